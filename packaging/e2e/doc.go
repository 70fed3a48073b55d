// Package e2e boots the real amd64 .deb under systemd in a systemd-nspawn container and
// checks thingd through systemctl and journalctl; it runs only with THINGD_E2E=1 (make e2e).
package e2e
