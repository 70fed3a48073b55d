// Package tls builds the device's mutual-TLS client configuration for AWS IoT Core from
// the certificate, key and CA files, and turns certificate and handshake failures into sentences.
package tls
