# Production image: slim Python, dependencies only, static files collected,
# runs as an unprivileged user.
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to load; this key exists only during the build.
RUN SECRET_KEY=collectstatic-build-only DEBUG=0 python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --no-create-home app \
    && chown -R app /app/staticfiles

USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/readyz', timeout=2)"
ENTRYPOINT ["/app/docker/entrypoint.sh"]
