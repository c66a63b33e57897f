package uc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// SMSSender delivers one verification code to a phone. Send may block (uc
// calls it off the request path) and returns the final error after its own
// retries.
type SMSSender interface {
	Send(ctx context.Context, phone, code, text string) error
}

// LogSender "sends" codes by logging them, the phone masked: what `hive dev`
// uses, where the developer reads the code off the log, and staging with
// --sms-log-codes.
type LogSender struct {
	Logger *slog.Logger
}

// Send implements SMSSender.
func (l LogSender) Send(_ context.Context, phone, code, text string) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.Info("uc: verification code (log sender; set --sms-webhook to send)", "phone", maskPhone(phone), "code", code)
	return nil
}

// WebhookSender POSTs each code as JSON {"phone": ..., "code": ..., "text": ...}
// to URL (DESIGN §8): the seam to whatever SMS gateway a deployment uses.
// A 2xx answer is success; a 4xx other than 408 and 429 is final (the
// request itself is wrong); anything else, or a transport error, is tried
// again up to Retries more times, waiting Backoff, 2*Backoff, ...
type WebhookSender struct {
	URL     string
	Client  *http.Client  // nil: a client with no timeout of its own (Timeout applies per try)
	Timeout time.Duration // per try; 0 = 5 s
	Retries int
	Backoff time.Duration // first wait between tries; 0 = 500 ms
	Logger  *slog.Logger
}

// Send implements SMSSender.
func (w *WebhookSender) Send(ctx context.Context, phone, code, text string) error {
	body, err := json.Marshal(struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
		Text  string `json:"text"`
	}{phone, code, text})
	if err != nil {
		return err
	}
	hc := w.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	backoff := w.Backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	lg := w.Logger
	if lg == nil {
		lg = slog.Default()
	}
	for attempt := 0; ; attempt++ {
		final, err := w.try(ctx, hc, timeout, body)
		if err == nil {
			return nil
		}
		if final || attempt >= w.Retries {
			return fmt.Errorf("uc: sms webhook: %w (after %d tries)", err, attempt+1)
		}
		lg.Warn("uc: sms webhook failed; retrying", "try", attempt+1, "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("uc: sms webhook: %w (after %d tries)", ctx.Err(), attempt+1)
		}
		backoff *= 2
	}
}

// try makes one call; final reports an error that retrying cannot fix.
func (w *WebhookSender) try(ctx context.Context, hc *http.Client, timeout time.Duration, body []byte) (final bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return true, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return true, fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
}

// smsText is the message around a code.
func smsText(code string, ttl time.Duration) string {
	return fmt.Sprintf("Your Hive verification code is %s. It expires in %d minutes.", code, int(ttl.Round(time.Minute)/time.Minute))
}

// maskPhone hides the middle of a phone number for logs: at most the
// first six characters (+, country code, area) and the last four stay, and
// always at least four digits go (+8613800138000 is +86138****8000).
func maskPhone(p string) string {
	if len(p) <= 8 {
		return "****"
	}
	keep := min(6, len(p)-8)
	return p[:keep] + "****" + p[len(p)-4:]
}
