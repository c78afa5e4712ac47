//go:build amd64 && !purego

package comb

import "golang.org/x/sys/cpu"

// useADX selects the assembly field multiplication (field_amd64.s): it needs MULX (BMI2)
// and ADCX/ADOX (ADX), which x86-64 CPUs have had since 2013-2015. Elsewhere mulGeneric
// and sqrGeneric run.
var useADX = cpu.X86.HasBMI2 && cpu.X86.HasADX

//go:noescape
func mulADX(z, x, y *fe)

//go:noescape
func sqrADX(z, x *fe)
