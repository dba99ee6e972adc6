# Production image: slim Python, runtime dependencies only, static files
# collected at build time and served by WhiteNoise, an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    WEB_THREADS=4

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app
COPY requirements.txt .
RUN pip install --require-hashes -r requirements.txt

COPY --chown=app:app . .
# collectstatic loads the settings; this key exists only during the build.
RUN SECRET_KEY=collectstatic-build-only DEBUG=0 python manage.py collectstatic --noinput -v0 \
    && chown -R app:app /app/staticfiles

USER app
EXPOSE 8000
# /readyz: the process answers and the database is reachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=2)"]
# SIGTERM lets the server finish in-flight requests (WEB_GRACEFUL_TIMEOUT).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/docker/entrypoint.sh"]
