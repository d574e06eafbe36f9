package outbox

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Channel is the PostgreSQL NOTIFY channel the outbox_events insert trigger
// signals on; the notification is sent when the inserting transaction commits.
const Channel = "channelhub_outbox"

// listen holds one connection LISTENing on Channel and wakes the dispatcher
// at each notification, reconnecting after a failure. While it listens Run
// polls only every ListenPoll.
func (d *Dispatcher) listen(ctx context.Context) {
	for fails := 0; ctx.Err() == nil; fails++ {
		err := d.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		d.Log.WarnContext(ctx, "outbox: listen", "err", err)
		t := time.NewTimer(min(time.Second<<min(fails, 5), 30*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context) error {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("outbox: listen: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("outbox: listen: driver connection %T is not pgx", dc)
		}
		c := sc.Conn()
		if _, err := c.Exec(ctx, "LISTEN "+Channel); err != nil {
			return driver.ErrBadConn
		}
		d.listening.Store(true)
		defer d.listening.Store(false)
		d.Wake() // events committed before LISTEN
		for {
			if _, err := c.WaitForNotification(ctx); err != nil {
				// Never hand a LISTENing connection back to the pool.
				return driver.ErrBadConn
			}
			d.Wake()
		}
	})
}
