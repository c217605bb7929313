// Gather (rows of a table at i32 ids) and ScatterAdd (its gradient: rows
// summed into a zero table). Ids are checked before any data moves, so a bad
// id is an error, never a panic or a partial write.

package cpu

import "fmt"

func checkIDs(ids []int32, rows int) error {
	for i, id := range ids {
		if id < 0 || int(id) >= rows {
			return fmt.Errorf("id %d at position %d is outside [0,%d)", id, i, rows)
		}
	}
	return nil
}

func buildGather[T elem](c *compiler, out, table, ids *value) func() error {
	if out.size == 0 && ids.size == 0 {
		return nil
	}
	V := table.shape[0]
	R := 1
	for _, d := range table.shape[1:] {
		R *= d
	}
	ds, ts, is := slotOf[T](out), slotOf[T](table), slotOf[int32](ids)
	body := func(lo, hi int) {
		d, t, ix := ds.d, ts.d, is.d
		for i := lo; i < hi; i++ {
			id := int(ix[i])
			copy(d[i*R:i*R+R], t[id*R:id*R+R])
		}
	}
	pool := c.p.b.pool
	n := ids.size
	return func() error {
		if err := checkIDs(is.d, V); err != nil {
			return err
		}
		pool.parallelFor(n, grainFor(R), body)
		return nil
	}
}

// buildScatterAdd splits the row columns across the pool, so every thread
// walks all ids over its own columns: no two threads touch one element and
// the summation order is fixed.
func buildScatterAdd[T elem](c *compiler, out, ids, upd *value) func() error {
	if out.size == 0 {
		return nil
	}
	V := out.shape[0]
	R := out.size / V
	ds, is, us := slotOf[T](out), slotOf[int32](ids), slotOf[T](upd)
	n := ids.size
	body := func(lo, hi int) {
		d, ix, u := ds.d, is.d, us.d
		for r := 0; r < V; r++ {
			clear(d[r*R+lo : r*R+hi])
		}
		for i, id := range ix {
			dst := d[int(id)*R+lo : int(id)*R+hi]
			src := u[i*R+lo : i*R+hi]
			for j := range dst {
				dst[j] += src[j]
			}
		}
	}
	pool := c.p.b.pool
	return func() error {
		if err := checkIDs(is.d, V); err != nil {
			return err
		}
		pool.parallelFor(R, max(1, minParallel/max(n+V, 1)), body)
		return nil
	}
}
