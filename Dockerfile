# marketflow: the same commands as the README, in a slim image, as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A numeric user and group (10001), so Kubernetes' runAsNonRoot can check it without resolving a name.
RUN groupadd --gid 10001 marketflow && useradd --create-home --uid 10001 --gid 10001 marketflow
WORKDIR /srv/marketflow

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .
COPY conf ./conf
COPY wsgi.py gunicorn.conf.py ./
# The spool of sealed minutes (aggregator.spool_path) lives here; mount a volume to keep it.
RUN mkdir -p var/spool && chown -R 10001:10001 var

USER 10001:10001
EXPOSE 8080
# Exec form: no shell in between, so the probe's exit status is Python's own.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status != 200)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
