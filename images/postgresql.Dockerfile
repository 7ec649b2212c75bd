# debian12-postgresql: the PostgreSQL family (openGauss, KingbaseES, GaussDB) from Debian's packages.
# The cluster listens on 5432 whatever the build machine runs: pg_createcluster takes the first
# port free on the host the image is built on (the build shares the host's network), so a
# PostgreSQL of the build host's own on 5432 once gave the image's cluster 5433.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 \
 && sed -i -E 's/^port = [0-9]+/port = 5432/' /etc/postgresql/15/main/postgresql.conf \
 && grep -q '^port = 5432' /etc/postgresql/15/main/postgresql.conf \
 && apt-get clean && apt-cache gencaches >/dev/null  # apt's cache of the lists, kept as a system keeps it
