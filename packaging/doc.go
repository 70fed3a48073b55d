// Package packaging holds no code for the daemon: its tests check that the
// .deb config, the systemd unit, the default config and the Yocto recipe agree.
package packaging
