"""Where datasets and sinks live: file://, s3:// and Azure Blob URIs, parsed without connecting."""

import urllib.parse
from dataclasses import dataclass
from typing import Optional

from .errors import RunnerError

AZURE_SCHEMES = ("az", "azblob", "abfs", "abfss", "wasb", "wasbs")


@dataclass(frozen=True)
class Location:
    uri: str  # as written, for messages and the output URI
    kind: str  # "file", "s3" or "azure"
    path: str = ""  # file: the absolute local path
    bucket: str = ""  # s3: the bucket; azure: the container
    key: str = ""  # s3 and azure: the key prefix, without leading or trailing "/"
    account: Optional[str] = None  # azure: the account, when the URI names it

    def child(self, *parts: str) -> "Location":
        """The location `parts` below this one (the sink's {date}/{run})."""
        suffix = "/".join(parts)
        uri = f"{self.uri.rstrip('/')}/{suffix}"
        if self.kind == "file":
            return Location(uri, "file", path=f"{self.path.rstrip('/')}/{suffix}")
        key = f"{self.key}/{suffix}" if self.key else suffix
        return Location(uri, self.kind, bucket=self.bucket, key=key, account=self.account)


def parse_location(uri: str, field: str) -> Location:
    def invalid(problem, fix):
        return RunnerError("invalid_location", f"{uri!r} {problem}", field, fix)

    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise invalid("has no scheme", "use file:///abs/path, s3://bucket/prefix or abfs://container@account.dfs.core.windows.net/path")
    scheme = scheme.lower()
    authority, _, path = rest.partition("/")
    if "?" in path or "#" in path:
        raise invalid("has a query or fragment", "remove it: a location is a path")
    if scheme == "file":
        if authority not in ("", "localhost"):
            raise invalid("names a host", "write file:///abs/path (three slashes)")
        local = urllib.parse.unquote("/" + path)
        if local == "/" or ".." in local.split("/"):
            raise invalid("is the root or climbs with ..", "name the data's own folder")
        return Location(uri, "file", path=local)
    if scheme in ("s3", "s3a"):
        if not authority:
            raise invalid("names no bucket", "write s3://bucket/prefix")
        return Location(uri, "s3", bucket=authority, key=path.strip("/"))
    if scheme in AZURE_SCHEMES:
        container, at, host = authority.partition("@")
        if not container:
            raise invalid("names no container", "write abfs://container@account.dfs.core.windows.net/path")
        account = host.split(".")[0] if at and host else None
        return Location(uri, "azure", bucket=container, key=path.strip("/"), account=account)
    if scheme in ("https", "http") and ".blob." in authority:
        container, _, key = path.partition("/")
        if not container:
            raise invalid("names no container", "write https://account.blob.core.windows.net/container/path")
        return Location(uri, "azure", bucket=container, key=key.strip("/"), account=authority.split(".")[0])
    raise invalid(
        f"uses scheme {scheme!r}, which the runner does not read",
        "use file://, s3:// (or s3a://), abfs(s)://, wasb(s)://, az:// or https://ACCOUNT.blob...",
    )
