package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// ReadJSON reads the next message and decodes it as JSON into v. A message that is not
// valid JSON for v is an error; the connection stays open.
func (c *Conn) ReadJSON(ctx context.Context, v any) error {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("ws: decoding JSON message: %w", err)
	}
	// A message holds one JSON value: anything after it is an error too.
	if dec.More() {
		return fmt.Errorf("ws: decoding JSON message: data after the first value")
	}
	return nil
}

// WriteJSON encodes v as JSON and sends it as a text message.
func (c *Conn) WriteJSON(ctx context.Context, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("ws: encoding JSON message: %w", err)
	}
	// Encode ends the value with a newline, which the message does not need.
	return c.Write(ctx, MessageText, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
}
