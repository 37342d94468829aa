"""What hosts' agents fetch from the controller, at URLs it signed (artifacts.blobstore.signed_url): a blob (a slug,
a dependency layer) by digest, and a Docker image artifact's `docker save` archive; and where hosts send an
add-on's backup."""

import asyncio

from django.http import Http404, HttpResponseForbidden, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from artifacts.blobstore import blob_path, blob_put_stream, signed_url_check, upload_record, upload_used
from artifacts.models import Artifact, ArtifactKind
from hosts.engine import build_engine
from paas.errors import InvalidInput, NotFound

_CHUNK = 1024 * 1024
_REFUSED = "this URL is not signed by this controller, or it has expired\n"


@require_GET
def blob_download(request, digest: str):
    """Sends a stored blob to a holder of its signed URL; refuses any other request."""
    if not signed_url_check(f"blobs/{digest}", request.GET.get("s", "")):
        return HttpResponseForbidden(_REFUSED)
    try:
        path = blob_path(digest)
    except (InvalidInput, NotFound) as error:
        raise Http404(str(error)) from error
    response = StreamingHttpResponse(_file_chunks(path), content_type="application/octet-stream")
    response["Content-Length"] = str(path.stat().st_size)
    return response


async def _file_chunks(path):
    with open(path, "rb") as reader:
        async for chunk in _streamed(reader.read):
            yield chunk


@csrf_exempt
@require_http_methods(["PUT"])
def blob_upload(request, token: str):
    """Stores the request's body as a blob for a holder of a signed upload URL (a host sending an add-on's backup), and
    records it under the URL's token, once: the controller reads the digest from there, never from the host."""
    if not signed_url_check(f"uploads/{token}", request.GET.get("s", "")):
        return HttpResponseForbidden(_REFUSED)
    if upload_used(token):
        return HttpResponseForbidden("this URL has been used\n")
    digest, size = blob_put_stream(request)
    if not upload_record(token, digest, size):
        return HttpResponseForbidden("this URL has been used\n")
    return JsonResponse({"digest": digest, "size": size})


@require_GET
def image_download(request, artifact_id: int):
    """Streams a Docker image artifact's archive, from the engine its build or upload put it on (this machine's), to
    a holder of its signed URL."""
    if not signed_url_check(f"images/{artifact_id}", request.GET.get("s", "")):
        return HttpResponseForbidden(_REFUSED)
    artifact = Artifact.objects.filter(pk=artifact_id, kind=ArtifactKind.IMAGE).first()
    engine = build_engine()
    if artifact is None or engine.image_id(artifact.image) != artifact.image_id:
        raise Http404("no such image on the controller's engine")
    chunks = iter(engine.image_save(artifact.image))
    return StreamingHttpResponse(_streamed(lambda _size: next(chunks, b"")), content_type="application/x-tar")


async def _streamed(read, size: int = _CHUNK):
    """Chunks of `read(size)` until it gives nothing, each read in a thread: the server sends each chunk as it
    comes (a slug or an image can be far larger than the controller should hold in memory at once)."""
    while chunk := await asyncio.to_thread(read, size):
        yield chunk
