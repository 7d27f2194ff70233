"""S3 and Azure Blob access with released storage keys: stage a location's objects into a private
local folder, and upload a written result.

Keys live only in these clients' memory: never in Spark's configuration, the environment or a
log; errors name the store, the status and the error code, never the key or the server's text.
"""

import json
import logging
import os
import shutil

from .errors import RunnerError

# These libraries log requests (with signed headers) at DEBUG/INFO; the runner never wants that.
for _noisy in ("botocore", "boto3", "s3transfer", "urllib3", "azure"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def _skipped(relative: str) -> bool:
    """Folder markers and the hidden files Spark ignores (_SUCCESS, .crc)."""
    return not relative or relative.endswith("/") or any(part.startswith(("_", ".")) for part in relative.split("/"))


def _within(prefix: str, name: str):
    """The part of object `name` below key `prefix` (a whole path segment), or None."""
    if not prefix:
        return name
    if name == prefix:
        return os.path.basename(name)
    if name.startswith(prefix + "/"):
        return name[len(prefix) + 1 :]
    return None


def _local_target(dest_dir: str, relative: str) -> str:
    target = os.path.normpath(os.path.join(dest_dir, relative))
    if not target.startswith(os.path.abspath(dest_dir) + os.sep):
        raise RunnerError("source_unreadable", f"object name {relative!r} climbs out of its folder", None, "rename the object")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return target


def _download_tree(store, location, dest_dir: str, fetch) -> int:
    """Stages the objects below `location` that Spark reads into `dest_dir`, each copied by
    `fetch(name, local_path)`; returns how many. A failure of the store's (listing or fetching)
    is its `source_unreadable` error, which names the status and code but never the key.
    """
    try:
        count = 0
        for name in store._names(location):
            relative = _within(location.key, name)
            if relative is None or _skipped(relative):
                continue
            fetch(name, _local_target(dest_dir, relative))
            count += 1
        return count
    except RunnerError:
        raise
    except Exception as e:
        raise store._error("source_unreadable", location, "reading", e) from None


def _files_to_upload(src_dir: str):
    """Data files first and _SUCCESS last, so a reader that waits for it sees a complete output."""
    files = []
    for root, _, names in os.walk(src_dir):
        for name in names:
            if name.startswith(".") or name.endswith(".crc"):
                continue
            full = os.path.join(root, name)
            files.append((os.path.relpath(full, src_dir).replace(os.sep, "/"), full))
    files.sort(key=lambda f: (f[0].rsplit("/", 1)[-1] == "_SUCCESS", f[0]))
    return files


class S3Store:
    """{"endpoint", "region", "accessKeyId", "secretAccessKey"} (plus optional "sessionToken")."""

    kind = "s3"
    required = ("accessKeyId", "secretAccessKey")

    def __init__(self, credentials: dict):
        import boto3
        from botocore.config import Config

        endpoint = credentials.get("endpoint") or None
        # A session of its own: no profile, environment or shared-file credentials mix in.
        session = boto3.session.Session(
            aws_access_key_id=credentials["accessKeyId"],
            aws_secret_access_key=credentials["secretAccessKey"],
            aws_session_token=credentials.get("sessionToken") or None,
            region_name=credentials.get("region") or "us-east-1",
        )
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        self._client = session.client("s3", endpoint_url=endpoint, config=config)
        self.where = endpoint or "AWS S3"

    def __repr__(self):
        return f"S3Store({self.where!r})"

    def _error(self, code, location, action, e):
        status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        error_code = getattr(e, "response", {}).get("Error", {}).get("Code", e.__class__.__name__)
        return RunnerError(code, f"{action} {location.uri} on {self.where} failed: {error_code} (HTTP {status})")

    def _names(self, location):
        paginator = self._client.get_paginator("list_objects_v2")
        prefix = location.key
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def download_tree(self, location, dest_dir: str) -> int:
        def fetch(name, target):
            self._client.download_file(location.bucket, name, target)

        return _download_tree(self, location, dest_dir, fetch)

    def is_empty(self, location) -> bool:
        try:
            return not any(_within(location.key, name) is not None for name in self._names(location))
        except Exception as e:
            raise self._error("sink_unwritable", location, "listing", e) from None

    def upload_tree(self, src_dir: str, location) -> int:
        files = _files_to_upload(src_dir)
        try:
            for relative, full in files:
                self._client.upload_file(full, location.bucket, f"{location.key}/{relative}" if location.key else relative)
            return len(files)
        except Exception as e:
            raise self._error("sink_unwritable", location, "writing", e) from None


class AzureBlobStore:
    """{"endpoint", "account", "accountKey"}; the endpoint defaults to https://ACCOUNT.blob.core.windows.net."""

    kind = "azure"
    required = ("account", "accountKey")

    def __init__(self, credentials: dict):
        from azure.storage.blob import BlobServiceClient

        self.account = credentials["account"]
        self.where = credentials.get("endpoint") or f"https://{self.account}.blob.core.windows.net"
        self._service = BlobServiceClient(
            account_url=self.where,
            credential={"account_name": self.account, "account_key": credentials["accountKey"]},
        )

    def __repr__(self):
        return f"AzureBlobStore({self.where!r})"

    def _check_account(self, location, code):
        if location.account and location.account != self.account:
            raise RunnerError(
                code, f"{location.uri} is in account {location.account!r} but its key is for {self.account!r}", None,
                "release the key of the location's storage account",
            )

    def _error(self, code, location, action, e):
        status = getattr(e, "status_code", "?")
        error_code = getattr(e, "error_code", None) or e.__class__.__name__
        return RunnerError(code, f"{action} {location.uri} on {self.where} failed: {error_code} (HTTP {status})")

    def _names(self, location):
        container = self._service.get_container_client(location.bucket)
        for blob in container.list_blobs(name_starts_with=location.key or None):
            yield blob.name

    def download_tree(self, location, dest_dir: str) -> int:
        self._check_account(location, "source_unreadable")
        # A local client object (no request); the location's parser never leaves the container empty.
        container = self._service.get_container_client(location.bucket)

        def fetch(name, target):
            with open(target, "wb") as f:
                container.download_blob(name).readinto(f)

        return _download_tree(self, location, dest_dir, fetch)

    def is_empty(self, location) -> bool:
        self._check_account(location, "sink_unwritable")
        try:
            return not any(_within(location.key, name) is not None for name in self._names(location))
        except Exception as e:
            raise self._error("sink_unwritable", location, "listing", e) from None

    def upload_tree(self, src_dir: str, location) -> int:
        self._check_account(location, "sink_unwritable")
        files = _files_to_upload(src_dir)
        try:
            container = self._service.get_container_client(location.bucket)
            for relative, full in files:
                with open(full, "rb") as f:
                    container.upload_blob(f"{location.key}/{relative}" if location.key else relative, f, overwrite=False)
            return len(files)
        except Exception as e:
            raise self._error("sink_unwritable", location, "writing", e) from None


class LocalFolder:
    """A file:// sink: the same publish step as the object stores, so a failed write leaves nothing."""

    kind = "file"

    def is_empty(self, location) -> bool:
        return not os.path.exists(location.path) or (os.path.isdir(location.path) and not os.listdir(location.path))

    def upload_tree(self, src_dir: str, location) -> int:
        files = _files_to_upload(src_dir)
        try:
            for relative, full in files:
                target = os.path.join(location.path, relative)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(full, target)
            return len(files)
        except OSError as e:
            raise RunnerError("sink_unwritable", f"writing {location.uri} failed: {e.strerror}") from None


STORES = {"s3": S3Store, "azure": AzureBlobStore}


def store_for(location, secret_names, released: dict, field: str):
    """A client for `location` with the first of `secret_names` whose value is a key of its kind.

    `released` maps each name to the secret's bytes (a JSON object, docs/cleanroom-runs.md).
    """
    store_class = STORES[location.kind]
    if not secret_names:
        raise RunnerError(
            "missing_secret", f"{location.uri} needs a storage key but no secret is listed", f"{field}.secrets",
            f"list the owner's {location.kind} key secret",
        )
    for name in secret_names:
        try:
            value = json.loads(released[name].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # not a storage key: some other secret of the same owner
        if isinstance(value, dict) and all(isinstance(value.get(k), str) and value.get(k) for k in store_class.required):
            try:
                return store_class(value)
            except Exception as e:  # the class name only: the message could quote the value
                raise RunnerError(
                    "invalid_secret", f"secret {name} holds a {location.kind} key the client refuses ({e.__class__.__name__})",
                    f"{field}.secrets", "check its endpoint, region and account",
                ) from None
    raise RunnerError(
        "missing_secret",
        f"none of the secrets {secret_names} is a {location.kind} key (a JSON object with {', '.join(store_class.required)})",
        f"{field}.secrets",
        "put the storage key as the secret's value in that shape",
    )
