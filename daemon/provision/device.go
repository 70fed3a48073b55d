package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
)

// Where a board tells its serial number: the device tree (Raspberry Pi OS on 64-bit kernels,
// most ARM boards) first, else the "Serial" line of /proc/cpuinfo (32-bit Pi kernels).
// Variables so tests can point them at files.
var (
	serialNumberFile = "/sys/firmware/devicetree/base/serial-number"
	cpuinfoFile      = "/proc/cpuinfo"
	interfaces       = net.Interfaces
)

// Serial is the board's serial number.
func Serial() (string, error) {
	if b, err := os.ReadFile(serialNumberFile); err == nil {
		if s := strings.TrimSpace(string(bytes.TrimRight(b, "\x00"))); s != "" {
			return s, nil
		}
	}
	f, err := os.Open(cpuinfoFile)
	if err != nil {
		return "", fmt.Errorf("no serial number: %s is missing and %w; use a fixed string or ${mac} in [provisioning] parameters", serialNumberFile, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "Serial" {
			if s := strings.TrimSpace(v); s != "" {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("no serial number in %s or %s (not a Raspberry Pi?); use a fixed string or ${mac} in [provisioning] parameters", serialNumberFile, cpuinfoFile)
}

// MAC is the hardware address of iface, or with iface "" of the first interface by name
// that has one and is not loopback, as aa:bb:cc:dd:ee:ff.
func MAC(iface string) (string, error) {
	ifs, err := interfaces()
	if err != nil {
		return "", fmt.Errorf("list network interfaces: %w", err)
	}
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Name < ifs[j].Name })
	for _, i := range ifs {
		if iface != "" && i.Name != iface {
			continue
		}
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) == 0 {
			if iface != "" {
				return "", fmt.Errorf("network interface %s has no MAC address; name another in ${mac:IFACE}", iface)
			}
			continue
		}
		return i.HardwareAddr.String(), nil
	}
	if iface != "" {
		return "", fmt.Errorf("no network interface %s (see `ip link`); name another in ${mac:IFACE}", iface)
	}
	return "", errors.New("no network interface with a MAC address; use ${serial} or a fixed string")
}

// Parameters expands the template parameters' ${serial}, ${mac} and ${mac:IFACE}.
func Parameters(in map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	var errs []error
	for k, v := range in {
		s, err := expand(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("provisioning parameter %s: %w", k, err))
			continue
		}
		out[k] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func expand(v string) (string, error) {
	var b strings.Builder
	rest := v
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			return "", fmt.Errorf("%q has an unclosed ${", v)
		}
		b.WriteString(rest[:i])
		name := rest[i+2 : i+j]
		var s string
		var err error
		switch {
		case name == "serial":
			s, err = Serial()
		case name == "mac":
			s, err = MAC("")
		case strings.HasPrefix(name, "mac:"):
			s, err = MAC(strings.TrimPrefix(name, "mac:"))
		default:
			err = fmt.Errorf("unknown placeholder ${%s}; use ${serial}, ${mac} or ${mac:IFACE}", name)
		}
		if err != nil {
			return "", err
		}
		b.WriteString(s)
		rest = rest[i+j+1:]
	}
}
