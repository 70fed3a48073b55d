SUMMARY = "Keeps a device connected to AWS IoT Core"
DESCRIPTION = "thingd queues messages durably on the device, publishes them \
to AWS IoT Core over MQTT with mutual TLS, syncs the clock of boards without \
an RTC, and runs as a hardened systemd service."
SECTION = "net"
# thingd, the Go standard library, and the Go modules linked in; their licence
# files are in thingd-go-mods.inc (go test ./packaging/ keeps both true).
LICENSE = "Apache-2.0 & BSD-2-Clause & BSD-3-Clause & EPL-2.0 & MIT"
LIC_FILES_CHKSUM = "file://src/${GO_IMPORT}/LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

GO_IMPORT = "thingd"
GO_INSTALL = "${GO_IMPORT}/cmd/thingd"

# Source: the thingd git checkout this layer sits in (THINGD_SRC_REPO, set in
# conf/layer.conf). A release builds the commit of tag v${PV} (THINGD_RELEASE_SRCREV),
# so the same layer gives the same binary. Development builds opt in to the newest
# commit of THINGD_SRC_BRANCH with THINGD_DEVBUILD = "1" in local.conf (AUTOREV).
THINGD_SRC_BRANCH ?= "main"
THINGD_RELEASE_SRCREV = "f9a16c2b4cc2a98dbf9c5fc8d435c3b52d60f801"
THINGD_DEVBUILD ??= "0"
SRCREV = "${@d.getVar('AUTOREV') if d.getVar('THINGD_DEVBUILD') == '1' else d.getVar('THINGD_RELEASE_SRCREV')}"
# scarthgap's go.bbclass does not define GO_SRCURI_DESTSUFFIX, later ones do;
# this is the value both compute.
GO_SRCURI_DESTSUFFIX ?= "${@os.path.join(os.path.basename(d.getVar('S')), 'src', d.getVar('GO_IMPORT')) + '/'}"
SRC_URI = "git://${THINGD_SRC_REPO};protocol=file;branch=${THINGD_SRC_BRANCH};destsuffix=${GO_SRCURI_DESTSUFFIX}"
# Every Go module file go.sum names, as checksummed https downloads (generated).
require thingd-go-mods.inc

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
# Offline build: scarthgap's bitbake (2.8) has no gomod:// fetcher and its oe-core no
# go-vendor class, so thingd-go-mods.inc fetches the module proxy's files with the
# plain https fetcher in do_fetch (sha256 checked; the go command then checks go.sum
# too), and thingd_goproxy lays them out as a file:// module proxy after do_unpack.
# do_compile has no network flag: it works with BB_NO_NETWORK = "1".
THINGD_UNPACKDIR = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
# The module zips, unpacked (the licence files LIC_FILES_CHKSUM checks are here).
THINGD_GOMOD_DIR = "${THINGD_UNPACKDIR}/gomod"
THINGD_GOPROXY_DIR = "${WORKDIR}/goproxy"
export GOPROXY = "file://${THINGD_GOPROXY_DIR}"
export GOSUMDB = "off"
export GOTOOLCHAIN = "local"

python thingd_goproxy() {
    import shutil
    proxy = d.getVar('THINGD_GOPROXY_DIR')
    dl = d.getVar('DL_DIR')
    for url in (d.getVar('SRC_URI') or '').split():
        _, host, path, _, _, parm = bb.fetch2.decodeurl(url)
        if host != 'proxy.golang.org':
            continue
        dst = os.path.join(proxy, path.lstrip('/'))
        bb.utils.mkdirhier(os.path.dirname(dst))
        shutil.copyfile(os.path.join(dl, parm['downloadfilename']), dst)
}
do_unpack[postfuncs] += "thingd_goproxy"
do_unpack[cleandirs] += "${THINGD_GOPROXY_DIR}"

# No Go version check: thingd's go.mod says go 1.22, the Go of scarthgap (the
# oldest release in LAYERSERIES_COMPAT), and `make go122` holds the code to it,
# so every release's own go builds it; newer oe-core has no Go version variable.

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system thingd"
USERADD_PARAM:${PN} = "--system --gid thingd --home-dir ${localstatedir}/lib/thingd \
    --no-create-home --shell ${base_sbindir}/nologin \
    --comment 'thingd AWS IoT Core connector' thingd"

# A systemd service (Type=notify, watchdog): no sysvinit script.
REQUIRED_DISTRO_FEATURES = "systemd"
inherit features_check

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
