# debian12-ukui-x86_64: a Kylin-style desktop (UKUI, from Debian's archive) on a virtual display.
# Xvfb is the screen; ukwm (UKUI's window manager) and ukui-panel are started per run by the
# desktop suite, not here: the image only holds them. ukui-session-manager is left out: it would
# start the full session (peony, the control centre, the screensaver...), which a per-run
# container without systemd cannot keep up, and a vendor's window needs only the manager and panel.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      xvfb xauth x11-utils x11-xserver-utils xdotool wmctrl \
      ukwm ukui-panel ukui-settings-daemon \
      dbus dbus-x11 at-spi2-core \
      fonts-noto-cjk locales desktop-file-utils hicolor-icon-theme \
 && apt-get clean \
 && sed -i -E 's/^# *(zh_CN.UTF-8 UTF-8|en_US.UTF-8 UTF-8)/\1/' /etc/locale.gen \
 && locale-gen \
 && useradd --create-home --uid 1000 --shell /bin/bash desktop
# xwd (the screenshots of windows) lives in x11-apps. Python 3 with PyGObject and GTK's bindings
# come with Kylin and UOS desktops (their own tools use them), so a desktop target has them too.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends x11-apps \
      python3 python3-gi gir1.2-gtk-3.0 \
 && apt-get clean && apt-cache gencaches >/dev/null  # apt's cache of the lists, kept as a system keeps it
