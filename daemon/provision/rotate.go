package provision

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/config"
	"thingd/daemon/session"
	"thingd/daemon/status"
	"thingd/internal/atomicfile"
)

// Certificate rotation over the daemon's own connection: a new key and CSR, CreateCertificateFromCsr,
// RegisterThing with the same template and parameters (so the new certificate is registered
// to the same thing and carries its policy), then promotion. Promotion keeps the old files as
// hard links under oldSuffix, puts the new ones in place and reconnects: only when a
// connection with the new certificate succeeds are the old ones deleted; a failure, or a
// crash before that, puts the old ones back. A certificate that was issued but never
// registered is never promoted.
const oldSuffix = ".old"

// Rotation states in RotationState.State.
const (
	RotationDone   = "done"
	RotationFailed = "failed"
)

// retryAfter is how long a due rotation waits after a failed attempt.
const retryAfter = time.Hour

// RotationState is the outcome of the last rotation, kept in rotation.json.
type RotationState struct {
	State         string    `json:"state"`
	At            time.Time `json:"at"`
	Reason        string    `json:"reason"`
	Error         string    `json:"error,omitempty"`
	CertificateID string    `json:"certificate_id,omitempty"`
	NotAfter      time.Time `json:"not_after,omitempty"`
}

// ReadRotation reads rotation.json; a missing file is fs.ErrNotExist.
func ReadRotation(p *config.Provisioning) (*RotationState, error) {
	b, err := os.ReadFile(p.RotationFile())
	if err != nil {
		return nil, err
	}
	var st RotationState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", p.RotationFile(), err)
	}
	return &st, nil
}

// Rotator rotates the certificate of a provisioned device. A nil *Rotator (provisioning off,
// or not provisioned) does nothing, so the daemon can wire it unconditionally.
type Rotator struct {
	cfg     *config.Config
	f       files
	log     *zap.Logger
	now     func() time.Time
	answers chan answer
	events  chan session.Event

	mu       sync.Mutex
	notAfter time.Time
}

// NewRotator is the rotator for cfg, nil when cfg has no provisioned identity. now is the
// trusted clock.
func NewRotator(cfg *config.Config, log *zap.Logger, now func() time.Time) *Rotator {
	if id, err := cfg.Identity(); err != nil || id == nil {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Rotator{cfg: cfg, f: filesOf(&cfg.Provisioning), now: now,
		log:     log.With(zap.String("component", "rotate")),
		answers: make(chan answer, 8), events: make(chan session.Event, 32)}
}

// Subscriptions are the accepted and rejected topics of both APIs, for the daemon's session.
func (r *Rotator) Subscriptions() []session.Subscription {
	if r == nil {
		return nil
	}
	var subs []session.Subscription
	for _, t := range []string{createFromCSRTopic, registerTopic(r.cfg.Provisioning.Template)} {
		for _, s := range []string{"/accepted", "/rejected"} {
			subs = append(subs, session.Subscription{Filter: t + s, QoS: 1, Handle: r.handle})
		}
	}
	return subs
}

func (r *Rotator) handle(_ context.Context, topic string, payload []byte) error {
	select {
	case r.answers <- answer{topic, append([]byte(nil), payload...)}:
	default:
	}
	return nil
}

// Event is to be called with every session event; it never blocks.
func (r *Rotator) Event(e session.Event) {
	if r == nil {
		return
	}
	select {
	case r.events <- e:
	default:
	}
}

// Run rotates when the certificate is due (provisioning.rotate_before) or `thingd rotate`
// asked, until ctx ends.
func (r *Rotator) Run(ctx context.Context, s *session.Session) {
	if r == nil {
		return
	}
	r.refresh()
	var failedAt time.Time
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		reason := ""
		if exists(r.cfg.Provisioning.RotateRequestFile()) {
			_ = os.Remove(r.cfg.Provisioning.RotateRequestFile())
			reason = "requested (thingd rotate)"
		} else if before := r.cfg.Provisioning.RotateBefore.D(); before > 0 && time.Since(failedAt) > retryAfter {
			r.mu.Lock()
			left := r.notAfter.Sub(r.now())
			r.mu.Unlock()
			if left < before {
				reason = fmt.Sprintf("the certificate expires in %s", left.Round(time.Hour))
			}
		}
		if reason != "" {
			st := r.rotate(ctx, s, reason)
			if ctx.Err() != nil {
				return
			}
			if st.State == RotationFailed {
				failedAt = time.Now()
			}
			r.record(st)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *Rotator) refresh() {
	na, err := notAfter(r.cfg.MQTT.CertFile)
	if err != nil {
		r.log.Warn("cannot read the device certificate's expiry", zap.Error(err))
		return
	}
	r.mu.Lock()
	r.notAfter = na
	r.mu.Unlock()
}

func notAfter(certFile string) (time.Time, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return time.Time{}, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return time.Time{}, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", certFile, err)
	}
	return c.NotAfter, nil
}

func (r *Rotator) record(st RotationState) {
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := atomicfile.Write(r.cfg.Provisioning.RotationFile(), append(b, '\n'), 0o644); err != nil {
		r.log.Warn("cannot record the rotation", zap.Error(err))
	}
	if st.State == RotationFailed {
		r.log.Error("certificate rotation failed; the old certificate stays in use", zap.String("reason", st.Reason), zap.String("error", st.Error))
		return
	}
	r.log.Info("certificate rotated", zap.String("certificate_id", st.CertificateID), zap.Time("not_after", st.NotAfter))
}

func (r *Rotator) rotate(ctx context.Context, s *session.Session, reason string) RotationState {
	st := RotationState{Reason: reason}
	r.log.Info("rotating the device certificate", zap.String("reason", reason))
	err := r.rotateOnce(ctx, s, &st)
	st.At = time.Now().UTC()
	if err != nil {
		st.State, st.Error = RotationFailed, err.Error()
		return st
	}
	st.State = RotationDone
	r.refresh()
	r.mu.Lock()
	st.NotAfter = r.notAfter
	r.mu.Unlock()
	return st
}

func (r *Rotator) rotateOnce(ctx context.Context, s *session.Session, st *RotationState) (err error) {
	p := &r.cfg.Provisioning
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	unlock, err := r.f.lock()
	if err != nil {
		return err
	}
	defer unlock()
	for len(r.events) > 0 {
		<-r.events // from before this rotation
	}
	old, err := config.ReadIdentity(r.f.identity)
	if err != nil {
		return err
	}
	params, err := Parameters(p.Parameters)
	if err != nil {
		return err
	}
	key, csr, err := r.f.newKey(old.ClientID)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = r.f.discardPending() // a certificate never promoted goes with its key
		}
	}()
	req, _ := json.Marshal(map[string]string{"certificateSigningRequest": string(csr)})
	a, err := r.call(ctx, s, "CreateCertificateFromCsr", createFromCSRTopic, req)
	if err != nil {
		return err
	}
	if err := rejection(a, createFromCSRTopic, "CreateCertificateFromCsr", p.Template); err != nil {
		return err
	}
	var created struct {
		ID    string `json:"certificateId"`
		PEM   string `json:"certificatePem"`
		Token string `json:"certificateOwnershipToken"`
	}
	if err := json.Unmarshal(a.payload, &created); err != nil || created.PEM == "" || created.Token == "" {
		return fmt.Errorf("rotation: CreateCertificateFromCsr answered %q, not a certificate and ownership token", a.payload)
	}
	if err := matches(created.PEM, key); err != nil {
		return err
	}
	if err := r.f.writeCert([]byte(created.PEM)); err != nil {
		return err
	}
	req, _ = json.Marshal(map[string]any{"certificateOwnershipToken": created.Token, "parameters": params})
	a, err = r.call(ctx, s, "RegisterThing", registerTopic(p.Template), req)
	if err != nil {
		return err
	}
	if err := rejection(a, registerTopic(p.Template), "RegisterThing", p.Template); err != nil {
		return err
	}
	var reg struct {
		Thing string `json:"thingName"`
	}
	if err := json.Unmarshal(a.payload, &reg); err != nil || reg.Thing != old.ThingName {
		return fmt.Errorf("rotation: RegisterThing registered the new certificate to thing %q, not to this device's %q; check that the template names the thing from the same parameters", reg.Thing, old.ThingName)
	}
	st.CertificateID = created.ID
	return r.promote(ctx, s, old, created.ID)
}

// call publishes one request over the daemon's session and waits for its answer.
func (r *Rotator) call(ctx context.Context, s *session.Session, api, topic string, payload []byte) (answer, error) {
	for len(r.answers) > 0 {
		<-r.answers // an answer nobody waited for
	}
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	sent := false
	for {
		if !sent && s.State().Subscribed {
			if _, err := s.Publish(ctx, topic, 1, payload); err == nil {
				sent = true
			}
		}
		select {
		case <-ctx.Done():
			if !sent {
				return answer{}, fmt.Errorf("rotation: the daemon's connection was not up to ask for %s within %s", api, r.cfg.Provisioning.Timeout.D())
			}
			return answer{}, fmt.Errorf("rotation: AWS IoT did not answer %s within %s; check that the device policy allows iot:Publish, iot:Subscribe and iot:Receive on the provisioning topics (docs/provisioning.md)", api, r.cfg.Provisioning.Timeout.D())
		case a := <-r.answers:
			if a.topic == topic+"/accepted" || a.topic == topic+"/rejected" {
				return a, nil
			}
		case e := <-r.events:
			if e.Kind == session.EventDisconnected {
				sent = false // a clean session's answer is lost with its connection: ask again
			}
		case <-poll.C:
		}
	}
}

// promote puts the new pair in place and keeps it only if a connection with it succeeds.
func (r *Rotator) promote(ctx context.Context, s *session.Session, old *config.Identity, certID string) error {
	f := r.f
	for _, p := range []string{f.key, f.cert, f.identity} {
		_ = os.Remove(p + oldSuffix)
		if err := os.Link(p, p+oldSuffix); err != nil {
			return fmt.Errorf("rotation: keep %s: %w", p, err)
		}
	}
	if err := f.syncDirs(); err != nil {
		return err
	}
	id := *old
	id.CertificateID = certID
	if err := f.commit(&id); err != nil {
		_ = f.rollback()
		return err
	}
	for len(r.events) > 0 {
		<-r.events
	}
	s.Reconnect("certificate rotation: trying the new certificate")
	for {
		select {
		case <-ctx.Done():
			if err := f.rollback(); err != nil {
				return err
			}
			return errors.New("rotation: no connection with the new certificate in time; the old one is back in use")
		case e := <-r.events:
			switch e.Kind {
			case session.EventConnected:
				return f.confirm()
			case session.EventConnectFailed:
				if err := f.rollback(); err != nil {
					return err
				}
				return fmt.Errorf("rotation: the broker refused the new certificate (%v); the old one is back in use. Check that the template registers the certificate ACTIVE with the thing's policy", e.Err)
			}
		}
	}
}

// confirm deletes the old pair once the new one is known to work.
func (f files) confirm() error {
	for _, p := range []string{f.key, f.cert, f.identity} {
		if err := os.Remove(p + oldSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return f.syncDirs()
}

// rollback puts the old pair and identity back, if a promotion left them.
func (f files) rollback() error {
	for _, p := range []string{f.key, f.cert, f.identity} {
		if exists(p + oldSuffix) {
			if err := os.Rename(p+oldSuffix, p); err != nil {
				return fmt.Errorf("rotation: put the old %s back: %w", p, err)
			}
		}
	}
	return f.syncDirs()
}

// Status is the identity part of `thingd status`, nil when cfg has no provisioned identity.
func Status(cfg *config.Config) *status.Identity {
	id, err := cfg.Identity()
	if err != nil || id == nil {
		return nil
	}
	st := &status.Identity{CertificateID: id.CertificateID}
	if na, err := notAfter(id.CertFile); err == nil {
		st.CertNotAfter = status.TimePtr(na)
	}
	if r, err := ReadRotation(&cfg.Provisioning); err == nil {
		st.Rotation, st.RotationAt, st.RotationError = r.State, status.TimePtr(r.At), r.Error
	}
	return st
}

// Failure is why the last provisioning by claim failed, kept while no daemon runs to say it.
type Failure struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// RecordFailure saves err in the failure file (best effort: the journal has it too); nil
// removes the file after a provisioning that succeeded.
func RecordFailure(p *config.Provisioning, at time.Time, err error) {
	if err == nil {
		_ = os.Remove(p.FailureFile())
		return
	}
	b, _ := json.Marshal(Failure{At: at.UTC(), Error: err.Error()})
	if os.MkdirAll(p.Dir, 0o700) == nil {
		_ = atomicfile.Write(p.FailureFile(), b, 0o640)
	}
}

// ReadFailure reads the failure file; a missing file is fs.ErrNotExist.
func ReadFailure(p *config.Provisioning) (*Failure, error) {
	b, err := os.ReadFile(p.FailureFile())
	if err != nil {
		return nil, err
	}
	var f Failure
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", p.FailureFile(), err)
	}
	return &f, nil
}
