# deepseek-free-api in a container: `docker build -t deepseek-free-api .`, then
#   docker run -d -p 127.0.0.1:8000:8000 -v deepseek-data:/data \
#     -e API_KEYS=sk-... -e DEEP_SEEK_CHAT_AUTHORIZATION=TOKEN1,TOKEN2 deepseek-free-api
# or `docker compose up -d` with compose.yaml (server + Redis). README: "Deploying it".
ARG PYTHON_VERSION=3.11

# Build stage: the full Debian Python image has gcc and the Python headers, so the wheel is built
# here with the native proof-of-work core (setup.py), beside wheels of every dependency; the
# runtime stage then needs no compiler.
FROM python:${PYTHON_VERSION}-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="deepseek-free-api" \
      org.opencontainers.image.description="The DeepSeek web chat as OpenAI- and Anthropic-compatible APIs" \
      org.opencontainers.image.licenses="MIT"
# A fixed, unprivileged user that owns nothing but the data directory.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" deepseek \
    && useradd --system --uid "${APP_UID}" --gid deepseek --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin deepseek \
    && install -d -o deepseek -g deepseek -m 0700 /data
COPY --from=build /wheels /tmp/wheels
# Offline install from the build stage's wheels only. The import fails the build if the native
# proof-of-work core is missing: without it every answer would wait on the slower NumPy solver.
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels /tmp/wheels/deepseek_free_api-*.whl \
    && rm -rf /tmp/wheels \
    && python -c "import deepseek_free_api.upstream.pow._native"
# Inside the container the server listens on every interface; the image sets no keys and no
# anonymous use, so a caller needs a service key (API_KEYS) for the server's accounts, or brings
# its own DeepSeek token. The SQLite store (server.data_dir) lives on the /data volume.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEEPSEEK_FREE_API_SERVER_HOST=0.0.0.0 \
    DEEPSEEK_FREE_API_SERVER_PORT=8000 \
    DEEPSEEK_FREE_API_SERVER_DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
# Liveness only (GET /healthz answers without a key and without asking DeepSeek); python's urllib,
# because the slim image has no curl. Reads the port the server was given.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DEEPSEEK_FREE_API_SERVER_PORT', '8000'), timeout=4)"]
# SIGTERM (docker stop) ends open streams with an error event and stops DeepSeek's generations
# before exiting; give it `--stop-timeout 30` or compose's stop_grace_period for long streams.
STOPSIGNAL SIGTERM
ENTRYPOINT ["deepseek-free-api"]
CMD ["serve"]
