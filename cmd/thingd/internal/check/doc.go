// Package check is `thingd check`: it walks every step from the config file to an MQTT
// round trip and says, one line per step, what it found and what to do about it.
package check
