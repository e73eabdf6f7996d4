# The petitionflow image: worker, codec server, migrations and cluster setup.
FROM python:3.11.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY eventstore eventstore
COPY activities activities
COPY workflows workflows
COPY workers workers
COPY client client
COPY cli cli
COPY security security
COPY projections projections
RUN pip install . && useradd --system --uid 10001 petitionflow
USER petitionflow
ENTRYPOINT ["petition"]
CMD ["worker"]
