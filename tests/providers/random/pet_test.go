package main

import (
	"slices"
	"testing"
)

func TestPetNameShape(t *testing.T) {
	first := func(int) int { return 0 }
	cases := map[int][]string{
		1: {names[0]},
		2: {adjectives[0], names[0]},
		4: {adverbs[0], adverbs[0], adjectives[0], names[0]},
	}
	for length, want := range cases {
		if got := petName(length, first); !slices.Equal(got, want) {
			t.Errorf("petName(%d) = %v, want %v", length, got, want)
		}
	}
}
