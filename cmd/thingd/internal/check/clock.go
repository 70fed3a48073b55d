package check

import (
	"errors"
	"fmt"
	"time"

	"thingd/clock"
	"thingd/internal/human"
	thingtls "thingd/tls"
)

const (
	// maxOffset is where thingd's clock would step the system clock (clock.step = "auto").
	maxOffset = time.Second
	// expirySoon warns ahead of the device certificate's end, while there is time to renew.
	expirySoon = 14 * 24 * time.Hour
)

// clockStep compares the system time with NTP time and checks the device certificate
// against both: thingd checks certificates with NTP time, other programs (the AWS SDK,
// openssl, curl) with the system time.
func (r *runner) clockStep() Result {
	sys := r.o.Now()
	data := map[string]any{"system_time": sys.UTC()}
	seen := "system time " + stamp(sys)
	var ntpTime time.Time
	if r.ntpOK {
		ntpTime = r.ntpNow()
		data["ntp_time"], data["offset_ms"] = ntpTime.UTC(), ms(r.offset)
		seen += fmt.Sprintf(", NTP time %s (%s)", stamp(ntpTime), describeOffset(r.offset))
	} else {
		seen += ", not confirmed: no NTP server answered"
	}
	stepFix := `thingd syncs at start and uses NTP time for TLS; or set clock.step = "auto" so it also sets the system clock`
	if r.cfg.Clock.Step == clock.StepAuto {
		stepFix = "thingd syncs at start, uses NTP time for TLS and sets the system clock when it holds CAP_SYS_TIME"
	}
	if r.cert == nil {
		if r.ntpOK && abs(r.offset) > maxOffset {
			return warn("clock", seen+"; device certificate not checked (mqtt.cert_file did not load)", stepFix, data)
		}
		return pass("clock", seen+"; device certificate not checked (mqtt.cert_file did not load)", data)
	}
	data["not_before"], data["not_after"] = r.cert.NotBefore.UTC(), r.cert.NotAfter.UTC()
	sysErr := r.cert.CheckValidity(sys, false)
	data["cert_valid_system_time"] = sysErr == nil

	if !r.ntpOK {
		if sysErr != nil {
			addSkew(data, sysErr)
			return fail("clock", sysErr.Error(), "let thingd reach a server in clock.servers (UDP port 123), or set the system clock (date -s)", data)
		}
		return warn("clock", seen+"; the device certificate is valid at the system time until "+stamp(r.cert.NotAfter),
			"let thingd reach a server in clock.servers (UDP port 123)", data)
	}
	ntpErr := r.cert.CheckValidity(ntpTime, true)
	data["cert_valid_ntp_time"] = ntpErr == nil
	if ntpErr != nil {
		addSkew(data, ntpErr)
		return fail("clock", ntpErr.Error(), "create a new certificate in the AWS IoT console and put it at "+r.cert.Path, data)
	}
	if abs(r.offset) > maxOffset {
		detail := seen
		if sysErr != nil {
			detail += fmt.Sprintf("; the device certificate (valid from %s) is valid at NTP time but not at the system time", stamp(r.cert.NotBefore))
		}
		return warn("clock", detail, stepFix, data)
	}
	if left := r.cert.NotAfter.Sub(ntpTime); left < expirySoon {
		return warn("clock", fmt.Sprintf("%s; the device certificate expires in %s (%s)", seen, human.Duration(left), stamp(r.cert.NotAfter)),
			"create a new certificate in the AWS IoT console and put it at "+r.cert.Path, data)
	}
	return pass("clock", fmt.Sprintf("%s; the device certificate is valid until %s", seen, stamp(r.cert.NotAfter)), data)
}

// describeOffset says which way the system clock is off. offset is NTP minus system.
func describeOffset(offset time.Duration) string {
	switch {
	case offset > maxOffset:
		return "the system clock is " + human.Duration(offset) + " behind"
	case offset < -maxOffset:
		return "the system clock is " + human.Duration(offset) + " ahead"
	}
	return "system clock off by " + human.Signed(-offset)
}

func addSkew(data map[string]any, err error) {
	var ce *thingtls.CertError
	if errors.As(err, &ce) {
		data["kind"], data["skew_s"] = ce.Kind.String(), ce.Skew().Seconds()
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
