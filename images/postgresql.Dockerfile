# debian12-postgresql: the PostgreSQL family (openGauss, KingbaseES, GaussDB) from Debian's packages.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 \
 && apt-get clean && apt-cache gencaches >/dev/null  # apt's cache of the lists, kept as a system keeps it
