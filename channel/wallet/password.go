package wallet

import (
	"bytes"
	"os"
)

// PasswordEnv names the environment variable that may hold the wallet password (a
// --password-file flag wins over it). There is no interactive prompt: btt has no terminal
// dependency, and scripts need a non-interactive way anyway.
const PasswordEnv = "BTT_WALLET_PASSWORD"

// ReadPassword returns the wallet password: the first line of file when one is named, else
// the value of PasswordEnv (empty for an unencrypted wallet).
func ReadPassword(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[:i]
		}
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return []byte(os.Getenv(PasswordEnv)), nil
}
