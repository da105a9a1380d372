"""The S3 front of `backrunner proxy` driven by real S3 clients: boto3, aws-cli and rclone.

Started by tests/integration/s3_clients.rs, which runs a proxy with `[s3]` over two storage
groups and passes the endpoints and secrets in the environment (see that file for the
buckets and their ACLs). Every wait has a deadline; nothing sleeps for ordering.
"""

import base64
import hashlib
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
HTTPS_ENDPOINT = os.environ["S3_HTTPS_ENDPOINT"]
CA_BUNDLE = os.environ["S3_CA_BUNDLE"]
PROXY = os.environ["PROXY_BASE"]
WRITER = os.environ["S3_WRITER_SECRET"]
WRITER_OLD = os.environ["S3_WRITER_OLD_SECRET"]
WRITER_OTHER = os.environ["S3_WRITER_OTHER_SECRET"]
READER = os.environ["S3_READER_SECRET"]
WORKDIR = Path(os.environ["S3_WORKDIR"])

# Larger than the proxies' 64 KiB write chunk: stored as parts plus a manifest.
LARGE = bytes((i * 7 + 3) % 251 for i in range(200 * 1024 + 17))


def client(user=None, secret=None, endpoint=ENDPOINT):
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        signature_version=UNSIGNED if user is None else "s3v4",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        verify=CA_BUNDLE if endpoint.startswith("https") else None,
        region_name="us-east-1",
        aws_access_key_id=user or "unused",
        aws_secret_access_key=secret or "unused",
        config=config,
    )


writer = client("writer", WRITER)
reader = client("reader", READER)
anonymous = client()


def md5(data):
    return hashlib.md5(data).hexdigest()


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def clean_env(user, secret):
    # No AWS_* of the machine (a CA bundle, a profile) leaks into the clients.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=user,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(WORKDIR / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(WORKDIR / "no-aws-credentials"),
        AWS_MAX_ATTEMPTS="1",
        RCLONE_CONFIG=str(WORKDIR / "no-rclone.conf"),
    )
    return env


def aws(*args, user="writer", secret=WRITER, check=True, endpoint=ENDPOINT):
    WORKDIR.mkdir(parents=True, exist_ok=True)
    tls = ["--ca-bundle", CA_BUNDLE] if endpoint.startswith("https") else []
    result = subprocess.run(
        ["aws", "--endpoint-url", endpoint, *tls, *args],
        env=clean_env(user, secret),
        capture_output=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


# --- buckets -------------------------------------------------------------------------


def bucket_names(c):
    return sorted(b["Name"] for b in c.list_buckets()["Buckets"])


def test_list_buckets_shows_what_the_caller_may_read():
    assert bucket_names(writer) == ["default", "private", "pubread"]
    assert bucket_names(reader) == ["default", "private"]
    assert bucket_names(client("writer", WRITER_OTHER)) == ["default", "other"]
    assert bucket_names(anonymous) == ["default", "pubread"]


def test_head_bucket_and_location():
    writer.head_bucket(Bucket="private")
    assert writer.get_bucket_location(Bucket="private").get("LocationConstraint") in (None, "")
    with pytest.raises(ClientError) as e:
        writer.head_bucket(Bucket="no-such-bucket")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        anonymous.head_bucket(Bucket="private")
    assert status(e) == 403


# --- objects -------------------------------------------------------------------------


def test_put_get_head_delete_with_md5_etags():
    body = b"hello, s3 front"
    put = writer.put_object(Bucket="private", Key="obj/hello.txt", Body=body)
    assert put["ETag"] == f'"{md5(body)}"'
    got = writer.get_object(Bucket="private", Key="obj/hello.txt")
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{md5(body)}"'
    assert got["ContentType"].startswith("text/plain")
    head = reader.head_object(Bucket="private", Key="obj/hello.txt")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]
    writer.delete_object(Bucket="private", Key="obj/hello.txt")
    with pytest.raises(ClientError) as e:
        writer.get_object(Bucket="private", Key="obj/hello.txt")
    assert error_code(e) == "NoSuchKey"
    # Deleting a missing key succeeds, as in S3.
    writer.delete_object(Bucket="private", Key="obj/hello.txt")


def test_bodies_that_do_not_match_their_digests_are_not_published():
    writer.put_object(Bucket="private", Key="digest/kept.bin", Body=b"previous version")
    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    for body in (b"new small version", LARGE):  # one record, and parts + manifest
        with pytest.raises(ClientError) as e:
            writer.put_object(Bucket="private", Key="digest/kept.bin", Body=body, ContentMD5=wrong_md5)
        assert error_code(e) == "BadDigest" and status(e) == 400
        with pytest.raises(ClientError) as e:
            writer.put_object(Bucket="private", Key="digest/kept.bin", Body=body, ChecksumCRC32="AAAAAA==")
        assert error_code(e) == "BadDigest"
    assert writer.get_object(Bucket="private", Key="digest/kept.bin")["Body"].read() == b"previous version"
    good_md5 = base64.b64encode(hashlib.md5(LARGE).digest()).decode()
    writer.put_object(Bucket="private", Key="digest/kept.bin", Body=LARGE, ContentMD5=good_md5)
    assert writer.get_object(Bucket="private", Key="digest/kept.bin")["Body"].read() == LARGE


def test_ranges_and_conditionals():
    body = b"0123456789abcdef"
    etag = writer.put_object(Bucket="private", Key="range.bin", Body=body)["ETag"]
    got = writer.get_object(Bucket="private", Key="range.bin", Range="bytes=2-5")
    assert got["Body"].read() == b"2345"
    assert got["ContentRange"] == f"bytes 2-5/{len(body)}"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    tail = writer.get_object(Bucket="private", Key="range.bin", Range="bytes=-3")
    assert tail["Body"].read() == b"def"
    with pytest.raises(ClientError) as e:
        writer.get_object(Bucket="private", Key="range.bin", Range="bytes=100-200")
    assert error_code(e) == "InvalidRange" and status(e) == 416
    with pytest.raises(ClientError) as e:
        writer.get_object(Bucket="private", Key="range.bin", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        writer.get_object(Bucket="private", Key="range.bin", IfMatch='"nope"')
    assert error_code(e) == "PreconditionFailed" and status(e) == 412
    assert writer.get_object(Bucket="private", Key="range.bin", IfMatch=etag)["Body"].read() == body


def test_large_object_in_parts_has_md5_etag_and_ranges_across_parts():
    put = writer.put_object(Bucket="private", Key="large/blob.bin", Body=LARGE)
    assert put["ETag"] == f'"{md5(LARGE)}"'
    head = writer.head_object(Bucket="private", Key="large/blob.bin")
    assert head["ETag"] == put["ETag"] and head["ContentLength"] == len(LARGE)
    assert writer.get_object(Bucket="private", Key="large/blob.bin")["Body"].read() == LARGE
    start, end = 65530, 131080  # spans the first two part boundaries
    got = writer.get_object(Bucket="private", Key="large/blob.bin", Range=f"bytes={start}-{end}")
    assert got["Body"].read() == LARGE[start : end + 1]


def test_copy_object_within_and_across_buckets():
    writer.put_object(Bucket="private", Key="copy/src.txt", Body=b"copy me")
    out = writer.copy_object(Bucket="private", Key="copy/dst.txt", CopySource="private/copy/src.txt")
    assert out["CopyObjectResult"]["ETag"] == f'"{md5(b"copy me")}"'
    assert writer.get_object(Bucket="private", Key="copy/dst.txt")["Body"].read() == b"copy me"
    anonymous.put_object(Bucket="default", Key="copy/public.txt", Body=b"from default")
    writer.copy_object(Bucket="private", Key="copy/from-default.txt", CopySource="default/copy/public.txt")
    assert writer.get_object(Bucket="private", Key="copy/from-default.txt")["Body"].read() == b"from default"
    # The source needs read permission: `other` does not know this writer's token.
    with pytest.raises(ClientError) as e:
        writer.copy_object(Bucket="private", Key="copy/x.txt", CopySource="other/anything")
    assert error_code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        writer.copy_object(Bucket="private", Key="copy/src.txt", CopySource="private/copy/src.txt")
    assert error_code(e) == "InvalidRequest"


def test_multipart_is_not_implemented_yet():
    with pytest.raises(ClientError) as e:
        writer.create_multipart_upload(Bucket="private", Key="mp/blob")
    assert error_code(e) == "NotImplemented" and status(e) == 501
    with pytest.raises(ClientError) as e:
        reader.create_multipart_upload(Bucket="private", Key="mp/blob")
    assert error_code(e) == "AccessDenied"


def test_delete_objects():
    keys = [f"bulk/{i}.txt" for i in range(5)]
    for k in keys:
        writer.put_object(Bucket="private", Key=k, Body=k.encode())
    out = writer.delete_objects(
        Bucket="private", Delete={"Objects": [{"Key": k} for k in keys + ["bulk/missing"]]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(keys + ["bulk/missing"])
    assert not out.get("Errors")
    listed = writer.list_objects_v2(Bucket="private", Prefix="bulk/")
    assert listed["KeyCount"] == 0


# --- listing -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree():
    keys = ["list/a.txt", "list/b/1.txt", "list/b/2.txt", "list/c/3.txt", "list/d e+f.txt", "list/z.txt"]
    for k in keys:
        writer.put_object(Bucket="private", Key=k, Body=k.encode())
    return keys


def test_list_v2_prefix_delimiter_and_pages(tree):
    out = writer.list_objects_v2(Bucket="private", Prefix="list/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["list/a.txt", "list/d e+f.txt", "list/z.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["list/b/", "list/c/"]
    assert out["KeyCount"] == 5 and not out["IsTruncated"]
    by_key = {o["Key"]: o for o in out["Contents"]}
    assert by_key["list/a.txt"]["ETag"] == f'"{md5(b"list/a.txt")}"'
    assert by_key["list/a.txt"]["Size"] == len(b"list/a.txt")
    # An empty delimiter is none.
    flat = writer.list_objects_v2(Bucket="private", Prefix="list/", Delimiter="")
    assert [o["Key"] for o in flat["Contents"]] == sorted(tree)
    # Pages of two, chained by continuation tokens.
    seen, token = [], None
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = writer.list_objects_v2(Bucket="private", Prefix="list/", MaxKeys=2, **kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(tree)
    after = writer.list_objects_v2(Bucket="private", Prefix="list/", StartAfter="list/b/2.txt")
    assert [o["Key"] for o in after["Contents"]] == ["list/c/3.txt", "list/d e+f.txt", "list/z.txt"]
    # boto3 asks for encoding-type=url and decodes the keys.
    assert "list/d e+f.txt" in [o["Key"] for o in flat["Contents"]]


def test_list_v1_markers_resume_after_common_prefixes(tree):
    keys, prefixes, marker = [], [], ""
    while True:
        page = writer.list_objects(Bucket="private", Prefix="list/", Delimiter="/", MaxKeys=2, Marker=marker)
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert keys == ["list/a.txt", "list/d e+f.txt", "list/z.txt"]
    assert prefixes == ["list/b/", "list/c/"]


# --- credentials and ACLs ------------------------------------------------------------


def test_acl_matrix():
    with pytest.raises(ClientError) as e:
        client("writer", "wrong-secret").put_object(Bucket="private", Key="acl/x", Body=b"x")
    assert error_code(e) == "SignatureDoesNotMatch" and status(e) == 403
    with pytest.raises(ClientError) as e:
        client("nobody", "secret").get_object(Bucket="private", Key="acl/x")
    assert error_code(e) == "InvalidAccessKeyId" and status(e) == 403
    # Read-only user: reads, no writes or deletes.
    writer.put_object(Bucket="private", Key="acl/readable", Body=b"r")
    assert reader.get_object(Bucket="private", Key="acl/readable")["Body"].read() == b"r"
    for call in (
        lambda: reader.put_object(Bucket="private", Key="acl/y", Body=b"y"),
        lambda: reader.delete_object(Bucket="private", Key="acl/readable"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "AccessDenied" and status(e) == 403
    # Anonymous: nothing in `private`; reads only in `pubread` (user `*`, flag 1).
    with pytest.raises(ClientError) as e:
        anonymous.get_object(Bucket="private", Key="acl/readable")
    assert error_code(e) == "AccessDenied"
    writer.put_object(Bucket="pubread", Key="acl/open", Body=b"open")
    assert anonymous.get_object(Bucket="pubread", Key="acl/open")["Body"].read() == b"open"
    with pytest.raises(ClientError) as e:
        anonymous.put_object(Bucket="pubread", Key="acl/no", Body=b"n")
    assert error_code(e) == "AccessDenied"


def test_rotation_overlap_and_per_bucket_tokens():
    # The previous token still works during the rotation.
    client("writer", WRITER_OLD).put_object(Bucket="private", Key="rot/old", Body=b"old")
    assert writer.get_object(Bucket="private", Key="rot/old")["Body"].read() == b"old"
    # The same user name has another token in `other`: each opens its own bucket only.
    other = client("writer", WRITER_OTHER)
    other.put_object(Bucket="other", Key="mine", Body=b"other")
    for c, bucket in ((other, "private"), (writer, "other")):
        with pytest.raises(ClientError) as e:
            c.get_object(Bucket=bucket, Key="mine")
        assert error_code(e) == "SignatureDoesNotMatch"


# --- one object space with the Backrunner API ---------------------------------------


def http(method, path, data=None):
    req = urllib.request.Request(PROXY + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_backrunner_api_and_s3_share_objects():
    status_, _ = http("POST", "/upload/default/cross/from-api.txt", b"uploaded with /upload")
    assert status_ == 200
    got = anonymous.get_object(Bucket="default", Key="cross/from-api.txt")
    assert got["Body"].read() == b"uploaded with /upload"
    assert got["ETag"] == f'"{md5(b"uploaded with /upload")}"'
    anonymous.put_object(Bucket="default", Key="cross/from-s3.bin", Body=LARGE)
    status_, body = http("GET", "/get/default/cross/from-s3.bin")
    assert status_ == 200 and body == LARGE
    listed = anonymous.list_objects_v2(Bucket="default", Prefix="cross/")
    assert [o["Key"] for o in listed["Contents"]] == ["cross/from-api.txt", "cross/from-s3.bin"]


# --- aws-cli and rclone --------------------------------------------------------------


def test_aws_cli_s3_and_s3api(tmp_path):
    src = tmp_path / "cli.txt"
    src.write_bytes(b"from the aws cli\n")
    aws("s3", "cp", str(src), "s3://private/cli/one.txt")
    aws("s3", "cp", str(src), "s3://private/cli/sub/two.txt")
    listed = aws("s3", "ls", "s3://private/cli/").stdout.decode()
    assert "one.txt" in listed and "PRE sub/" in listed
    out = tmp_path / "back.txt"
    aws("s3", "cp", "s3://private/cli/one.txt", str(out))
    assert out.read_bytes() == src.read_bytes()
    aws("s3api", "put-object", "--bucket", "private", "--key", "cli/api.txt", "--body", str(src))
    head = aws("s3api", "head-object", "--bucket", "private", "--key", "cli/api.txt").stdout.decode()
    assert md5(src.read_bytes()) in head
    ranged = tmp_path / "range.txt"
    aws("s3api", "get-object", "--bucket", "private", "--key", "cli/api.txt", "--range", "bytes=5-7", str(ranged))
    assert ranged.read_bytes() == b"the"
    listing = aws(
        "s3api", "list-objects-v2", "--bucket", "private", "--prefix", "cli/", "--delimiter", "/"
    ).stdout.decode()
    assert "cli/one.txt" in listing and "cli/sub/" in listing and "cli/sub/two.txt" not in listing
    aws("s3api", "delete-object", "--bucket", "private", "--key", "cli/api.txt")
    aws("s3", "rm", "--recursive", "s3://private/cli/")
    assert "one.txt" not in aws("s3", "ls", "s3://private/cli/", check=False).stdout.decode()
    denied = aws("s3", "cp", str(src), "s3://private/cli/x.txt", user="reader", secret=READER, check=False)
    assert denied.returncode != 0 and b"AccessDenied" in denied.stderr


def rclone(*args):
    # The endpoint is quoted: its ':' would end the connection string.
    remote = f':s3,provider=Other,endpoint="{ENDPOINT}",access_key_id=writer,secret_access_key={WRITER}'

    args = [a.replace("REMOTE", remote) for a in args]
    return subprocess.run(
        ["rclone", "--retries", "1", "--low-level-retries", "2", *args],
        env=clean_env("", ""),
        capture_output=True,
        timeout=90,
    )


def test_rclone_copy_and_check(tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"rclone a\n")
    (src / "sub" / "b.txt").write_bytes(b"rclone b\n")
    (src / "large.bin").write_bytes(LARGE)
    copied = rclone("copy", str(src), "REMOTE:private/rclone")
    assert copied.returncode == 0, copied.stderr
    checked = rclone("check", str(src), "REMOTE:private/rclone")
    assert checked.returncode == 0, checked.stderr
    assert b"0 differences found" in checked.stderr, checked.stderr
    got = writer.get_object(Bucket="private", Key="rclone/sub/b.txt")["Body"].read()
    assert got == b"rclone b\n"


# --- HTTPS ---------------------------------------------------------------------------


def test_https_with_boto3_and_aws_cli(tmp_path):
    secure = client("writer", WRITER, endpoint=HTTPS_ENDPOINT)
    put = secure.put_object(Bucket="private", Key="tls/large.bin", Body=LARGE)
    assert put["ETag"] == f'"{md5(LARGE)}"'
    assert secure.get_object(Bucket="private", Key="tls/large.bin")["Body"].read() == LARGE
    with open(tmp_path / "up.bin", "wb") as f:
        f.write(LARGE[:100_000])
    # Over HTTPS aws-cli streams uploads (aws-chunked, trailing checksum when supported).
    aws("s3", "cp", str(tmp_path / "up.bin"), "s3://private/tls/cli.bin", endpoint=HTTPS_ENDPOINT)
    aws("s3", "cp", "s3://private/tls/cli.bin", str(tmp_path / "down.bin"), endpoint=HTTPS_ENDPOINT)
    assert (tmp_path / "down.bin").read_bytes() == LARGE[:100_000]
    head = writer.head_object(Bucket="private", Key="tls/cli.bin")
    assert head["ETag"] == f'"{md5(LARGE[:100_000])}"'
    listed = secure.list_objects_v2(Bucket="private", Prefix="tls/")
    assert [o["Key"] for o in listed["Contents"]] == ["tls/cli.bin", "tls/large.bin"]


# --- presigned URLs ------------------------------------------------------------------


def test_presigned_get_and_put_with_plain_http():
    put_url = writer.generate_presigned_url(
        "put_object", Params={"Bucket": "private", "Key": "presigned/up.txt"}, ExpiresIn=300
    )
    status_, _ = http_url("PUT", put_url, b"put through a presigned URL")
    assert status_ == 200
    get_url = writer.generate_presigned_url(
        "get_object", Params={"Bucket": "private", "Key": "presigned/up.txt"}, ExpiresIn=300
    )
    assert http_url("GET", get_url) == (200, b"put through a presigned URL")
    tampered = get_url.replace("presigned/up.txt", "presigned/other.txt")
    status_, body = http_url("GET", tampered)
    assert status_ == 403 and b"SignatureDoesNotMatch" in body
    too_long = writer.generate_presigned_url(
        "get_object", Params={"Bucket": "private", "Key": "presigned/up.txt"}, ExpiresIn=604801
    )
    status_, body = http_url("GET", too_long)
    assert status_ == 400 and b"AuthorizationQueryParametersError" in body


def http_url(method, url, data=None):
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
