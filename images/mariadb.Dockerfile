# debian12-mariadb: the MySQL family (TiDB, OceanBase MySQL mode, GBase) from Debian's packages.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server mariadb-client \
 && apt-get clean && apt-cache gencaches >/dev/null  # apt's cache of the lists, kept as a system keeps it
