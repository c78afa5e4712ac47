//go:build !amd64 || purego

package comb

const useADX = false

func mulADX(z, x, y *fe) { panic("comb: no assembly on this architecture") }
func sqrADX(z, x *fe)    { panic("comb: no assembly on this architecture") }
