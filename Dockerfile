# planstream in a container: slim Python, non-root, works with a read-only
# root file system (docker run --read-only --tmpfs /dev/shm ...).
#   docker build -t planstream .
#   docker run --read-only --memory 1g -p 8080:8080 \
#     -e PLANSTREAM_SECRETS=... -v /srv/library:/library:ro planstream
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PLANSTREAM_HOST=0.0.0.0 \
    PLANSTREAM_PORT=8080 \
    PLANSTREAM_WORKERS=auto \
    PLANSTREAM_LIBRARY=/library \
    PLANSTREAM_DRAIN_TIMEOUT=8s

WORKDIR /opt/planstream
COPY setup.cfg pyproject.toml README.md ./
COPY server ./server
COPY generators ./generators
RUN pip install . && useradd --system --uid 10001 --no-create-home planstream

USER planstream
EXPOSE 8080
# Docker's default stop timeout is 10 s: the drain timeout above stays under
# it (or run with --stop-timeout 40 and PLANSTREAM_DRAIN_TIMEOUT=30s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
CMD ["python", "-m", "server"]
