# notifier: `docker build -t notifier .` then, for example,
#   docker run -v notifier-data:/data -p 8000:8000 notifier                 (API, console, worker)
#   docker run -v notifier-data:/data notifier notifier worker              (a worker alone)
#   docker run -v notifier-data:/data notifier notifier incident list       (any command)
# With PostgreSQL, set NOTIFIER_DATABASE__URL=postgresql+asyncpg://... and run as many
# `notifier worker` containers as you like; no volume is needed then.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NOTIFIER_DATABASE__URL=sqlite+aiosqlite:////data/notifier.db \
    NOTIFIER_PATHS__RULES=/app/rules \
    NOTIFIER_PATHS__TEMPLATES=/app/templates

WORKDIR /app
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN pip install .
COPY rules ./rules
COPY templates ./templates
COPY config.example.toml ./

# uid 10001, with a home of its own (`notifier demo` keeps its files there when the working
# folder is not writable); a folder bind-mounted at /data must be writable by uid 10001,
# which `serve` says in one line if it is not.
RUN useradd --system --uid 10001 --create-home --home-dir /home/notifier notifier \
    && mkdir -p /data && chown notifier /data
USER notifier
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# The HTTP API, the web console and a worker in one process; the health check needs no key.
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["notifier", "serve", "--host", "0.0.0.0", "--port", "8000"]
