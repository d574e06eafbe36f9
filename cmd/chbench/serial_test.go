package main

import (
	"slices"
	"testing"
)

func TestSerialOptionsValidate(t *testing.T) {
	ok := serialOptions{rows: 5_000_000, chunk: 500_000, dbURL: "postgres://x"}
	if err := ok.validate(true); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	noURL := ok
	noURL.dbURL = ""
	if err := noURL.validate(false); err != nil {
		t.Errorf("no URL, serial not chosen: %v", err)
	}
	if err := noURL.validate(true); err == nil {
		t.Error("no URL, serial chosen: want an error")
	}
	for _, o := range []serialOptions{{rows: 0, chunk: 1}, {rows: maxSerials + 1, chunk: 1}, {rows: 1, chunk: 0}} {
		if err := o.validate(false); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

func TestSerialNumber(t *testing.T) {
	if got := serialNumber(42); got != "CHB000000000042" {
		t.Errorf("serialNumber(42) = %q", got)
	}
	for _, i := range []int{1, 42, 5_000_000, maxSerials} {
		if got := serialIndex(serialNumber(i)); got != i {
			t.Errorf("serialIndex(serialNumber(%d)) = %d", i, got)
		}
	}
	for _, s := range []string{"", "CHB", "860000000000001", "CHB00000000004X", "CHB0000000000421"} {
		if got := serialIndex(s); got != 0 {
			t.Errorf("serialIndex(%q) = %d, want 0", s, got)
		}
	}
}

func TestSerialChunks(t *testing.T) {
	got := serialChunks(0, 1_200_000, 500_000)
	want := [][2]int{{1, 500_000}, {500_001, 1_000_000}, {1_000_001, 1_200_000}}
	if !slices.Equal(got, want) {
		t.Errorf("chunks = %v, want %v", got, want)
	}
	if got := serialChunks(700, 700, 100); len(got) != 0 {
		t.Errorf("nothing to do: %v", got)
	}
	if got := serialChunks(650, 700, 100); !slices.Equal(got, [][2]int{{651, 700}}) {
		t.Errorf("resume: %v", got)
	}
}
