// Package systemd is thingd's side of systemd: sd_notify readiness, status and watchdog,
// and logging that journald files under real priorities. The unit files live beside it.
package systemd
