SUMMARY = "Keeps a device connected to AWS IoT Core"
DESCRIPTION = "thingd queues messages durably on the device, publishes them \
to AWS IoT Core over MQTT with mutual TLS, syncs the clock of boards without \
an RTC, and runs as a hardened systemd service."
SECTION = "net"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://src/${GO_IMPORT}/LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

GO_IMPORT = "thingd"
GO_INSTALL = "${GO_IMPORT}/cmd/thingd"

# Source: the thingd git checkout this layer sits in (THINGD_SRC_REPO, set in
# conf/layer.conf), branch main, newest commit. For a release image pin it in
# local.conf: SRCREV:pn-thingd = "<commit>".
THINGD_SRC_BRANCH ?= "main"
SRCREV ?= "${AUTOREV}"
# scarthgap's go.bbclass does not define GO_SRCURI_DESTSUFFIX, later ones do;
# this is the value both compute.
GO_SRCURI_DESTSUFFIX ?= "${@os.path.join(os.path.basename(d.getVar('S')), 'src', d.getVar('GO_IMPORT')) + '/'}"
SRC_URI = "git://${THINGD_SRC_REPO};protocol=file;branch=${THINGD_SRC_BRANCH};destsuffix=${GO_SRCURI_DESTSUFFIX}"

inherit go-mod systemd useradd

# One static binary, as in the .deb: no cgo, no shared Go runtime, no PIE
# (which would need the external linker).
export CGO_ENABLED = "0"
GO_LINKSHARED = ""
GO_RPATH = ""
GOBUILDFLAGS:remove = "-buildmode=pie"
GO_LINUXLOADER = ""
# buildTime is the floor below which thingd never trusts the clock.
GO_EXTRA_LDFLAGS:append = " -X main.version=${PV} -X main.buildTime=${SOURCE_DATE_EPOCH}"
# go-mod downloads the modules listed in go.sum while compiling.
do_compile[network] = "1"

# No Go version check: thingd's go.mod says go 1.22, the Go of scarthgap (the
# oldest release in LAYERSERIES_COMPAT), and `make go122` holds the code to it,
# so every release's own go builds it; newer oe-core has no Go version variable.

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system thingd"
USERADD_PARAM:${PN} = "--system --gid thingd --home-dir ${localstatedir}/lib/thingd \
    --no-create-home --shell ${base_sbindir}/nologin \
    --comment 'thingd AWS IoT Core connector' thingd"

SYSTEMD_SERVICE:${PN} = "thingd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

THINGD_TREE = "${S}/src/${GO_IMPORT}"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    sed -e 's#=/usr/bin/thingd #=${bindir}/thingd #' -e 's#=/bin/sh #=${base_bindir}/sh #' \
        ${THINGD_TREE}/systemd/thingd.service > ${D}${systemd_system_unitdir}/thingd.service
    chmod 0644 ${D}${systemd_system_unitdir}/thingd.service

    install -d ${D}${sysconfdir}/thingd
    install -m 0644 ${THINGD_TREE}/packaging/thingd.toml ${D}${sysconfdir}/thingd/thingd.toml
    # `thingd import` writes the device certificate and key here.
    install -d -m 0750 -o root -g thingd ${D}${sysconfdir}/thingd/certs
}

# Upgrades keep the edited configuration.
CONFFILES:${PN} = "${sysconfdir}/thingd/thingd.toml"
FILES:${PN} += "${systemd_system_unitdir}/thingd.service ${sysconfdir}/thingd"
