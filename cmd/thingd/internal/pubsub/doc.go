// Package pubsub is `thingd pubsub`: the AWS IoT Device SDK's mqtt5_pubsub sample as a
// subcommand, to try a device's endpoint, certificate and policy without the daemon.
package pubsub
