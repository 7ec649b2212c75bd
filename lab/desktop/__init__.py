"""Graphical applications on a desktop target: the session the lab starts (a virtual display, the
window manager and the panel), the desktop entry and icon a package installs, its windows and what
they show. Everything vendor-controlled (entries, window titles, screenshots) is parsed here on the
controller as data, with caps; nothing of the vendor's runs outside the target."""
