// Package devpki makes a throw-away certificate authority with a server certificate for the
// loopback names and client certificates, as PEM files, for tests and the local demo.
package devpki
