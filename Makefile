# Installs acoustic-edge on an edge node (Debian 12): binary, configuration, systemd unit and a
# dedicated system user in the `audio` group. `make install` then
# `systemctl enable --now acoustic-edge`. DESTDIR and PREFIX work as usual.
PREFIX ?= /usr/local
DESTDIR ?=
BIN := $(shell swift build -c release --show-bin-path 2>/dev/null)/acoustic-edge

.PHONY: build install uninstall test demo

build:
	scripts/setup.sh
	swift build -c release

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/acoustic-edge
	install -D -m 0644 systemd/acoustic-edge.service $(DESTDIR)/etc/systemd/system/acoustic-edge.service
	install -d -m 0755 $(DESTDIR)/etc/acoustic-edge
	# Never overwrite an operator's configuration.
	[ -e $(DESTDIR)/etc/acoustic-edge/acoustic-edge.yaml ] || \
		install -m 0644 config/acoustic-edge.yaml $(DESTDIR)/etc/acoustic-edge/acoustic-edge.yaml
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/acoustic-edge/README.md
	if [ -z "$(DESTDIR)" ]; then \
		getent passwd acoustic-edge >/dev/null || \
			useradd --system --home-dir /var/lib/acoustic-edge --shell /usr/sbin/nologin \
				--user-group --groups audio acoustic-edge; \
		systemctl daemon-reload 2>/dev/null || true; \
	fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/acoustic-edge $(DESTDIR)/etc/systemd/system/acoustic-edge.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/acoustic-edge

test:
	scripts/test.sh

demo:
	scripts/demo.sh
