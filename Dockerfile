# One image for every cxm process: the web app (gunicorn), the Celery worker, Celery beat and the
# one-shot `migrate` service of docker-compose.yml. docs/operations.md explains the settings.

# ---- front-end assets from the npm registry (pico CSS); nothing is loaded from a CDN at run time --
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
# --omit=dev: axe-core is only for the browser tests.
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# ---- the application -----------------------------------------------------------------------------
FROM python:3.11-slim

# The code runs from /app, next to templates/, static/, locale/ and node_modules/ (settings find
# them relative to cxm/), so PYTHONPATH puts /app before the copy `pip install .` leaves in
# site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    CXM_VAR_DIR=/app/var \
    MEDIA_ROOT=/data/media

WORKDIR /app

# gettext for compilemessages (the Dutch, Romanian and Frisian catalogues).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin cxm

# The pinned dependencies get their own layer, so changing code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
COPY --from=assets /build/node_modules/@picocss/pico ./node_modules/@picocss/pico
RUN pip install --no-deps .

# Static files and message catalogues are built into the image. Production settings demand a
# SECRET_KEY, a PostgreSQL DATABASE_URL and a REDIS_URL; these build-time values only get past
# those checks (nothing connects to them) and are not kept in the image.
RUN CXM_ENV=production \
    SECRET_KEY=build-time-only-not-a-secret \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    sh -c 'python manage.py collectstatic --noinput -v0 && python manage.py compilemessages -v0 --ignore=node_modules' \
 && mkdir -p /data/media /data/beat \
 && chown -R cxm:cxm /app/var /data

USER cxm
EXPOSE 8000
CMD ["gunicorn", "cxm.wsgi", "-b", "0.0.0.0:8000", "-w", "3", "--access-logfile", "-"]
