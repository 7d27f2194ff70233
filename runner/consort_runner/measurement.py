"""The runner's measurement (what a clean room's policy allows) and host data (which job config).

measurement = SHA-256 over the package's *.py files, sorted by the UTF-8 bytes of their path
relative to the package's parent ("consort_runner/__init__.py", ...), each contributing
path || 0x00 || len(content) as 8 bytes big-endian || content. The server computes the same over
the copy it ships, so both must agree byte for byte (docs/cleanroom-runs.md).
"""

import hashlib
import os
import struct
import zipfile


def measure_entries(entries):
    """The measurement of (relative path, content bytes) pairs; paths use '/' separators."""
    digest = hashlib.sha256()
    for path, content in sorted(entries, key=lambda entry: entry[0].encode("utf-8")):
        digest.update(path.encode("utf-8"))
        digest.update(b"\x00")
        digest.update(struct.pack(">Q", len(content)))
        digest.update(content)
    return digest.hexdigest()


def package_entries(package_dir):
    """The package's *.py files as (path relative to its parent, bytes), including subpackages."""
    package_dir = os.path.abspath(package_dir)
    parent = os.path.dirname(package_dir)
    entries = []
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                full = os.path.join(root, name)
                relative = os.path.relpath(full, parent).replace(os.sep, "/")
                with open(full, "rb") as f:
                    entries.append((relative, f.read()))
    return entries


def measure(package_dir):
    """The measurement (lower-case hex) of the package in directory `package_dir`."""
    if not os.path.isdir(package_dir):
        raise FileNotFoundError(f"{package_dir} is not a directory holding the consort_runner package")
    return measure_entries(package_entries(package_dir))


def measure_zip(zip_path, package_name="consort_runner"):
    """The measurement of the package inside a zip (spark-submit --py-files ships it that way)."""
    prefix = package_name + "/"
    with zipfile.ZipFile(zip_path) as archive:
        entries = [
            (name, archive.read(name))
            for name in archive.namelist()
            if name.startswith(prefix) and name.endswith(".py") and "/__pycache__/" not in name
        ]
    return measure_entries(entries)


def measure_running_package():
    """The measurement of the consort_runner package this process imported, from a folder or a zip."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(package_dir):
        return measure(package_dir)
    # Imported from a zip: __file__ is <archive>/consort_runner/measurement.py.
    archive = os.path.dirname(package_dir)
    return measure_zip(archive, os.path.basename(package_dir))


def host_data(config_bytes):
    """SHA-256 (hex) of the job config exactly as the server sent it."""
    return hashlib.sha256(config_bytes).hexdigest()
