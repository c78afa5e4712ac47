// Package wallet stores a Speed identity: one secp256k1 key in a small JSON file, optionally
// encrypted with a password (scrypt key derivation, XChaCha20-Poly1305). The key is the
// identity; the file records the TRON-style address beside it so a user can see whose it is
// without the password.
package wallet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	"github.com/speedbt/btt/channel"
)

// Errors of Load and Decode.
var (
	ErrNeedPassword  = errors.New("wallet: the key file is encrypted; a password is needed")
	ErrWrongPassword = errors.New("wallet: wrong password or damaged key file")
	ErrBadFile       = errors.New("wallet: malformed key file")
)

// maxFileSize bounds what Load reads; a wallet file is a few hundred bytes.
const maxFileSize = 64 << 10

// Default scrypt cost: 2^15 x 8 x 1 takes about 100 ms and 32 MiB, the cost the scrypt paper
// recommends for interactive logins.
const (
	scryptN = 1 << 15
	scryptR = 8
	scryptP = 1
)

// Bounds on the scrypt cost a file may ask for, so a hostile file cannot make Load use
// gigabytes of memory (N x r x 128 bytes).
const (
	maxScryptN  = 1 << 20
	maxScryptRP = 64
)

const version = 1

type file struct {
	Version   int               `json:"version"`
	Address   channel.Address   `json:"address"`
	PublicKey channel.PublicKey `json:"public_key"`
	Key       string            `json:"key,omitempty"` // hex, when not encrypted
	Crypto    *sealed           `json:"crypto,omitempty"`
}

type sealed struct {
	KDF        string `json:"kdf"` // "scrypt"
	N          int    `json:"n"`
	R          int    `json:"r"`
	P          int    `json:"p"`
	Salt       string `json:"salt"`
	Cipher     string `json:"cipher"` // "xchacha20-poly1305"
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// Encode returns the file contents for k, encrypted when password is not empty.
func Encode(k *channel.PrivateKey, password []byte) ([]byte, error) {
	f := file{Version: version, Address: k.Address(), PublicKey: k.Public()}
	if len(password) == 0 {
		f.Key = hex.EncodeToString(k.Bytes())
	} else {
		salt := make([]byte, 16)
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		if _, err := io.ReadFull(rand.Reader, salt); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
			return nil, err
		}
		aead, err := deriveAEAD(password, salt, scryptN, scryptR, scryptP)
		if err != nil {
			return nil, err
		}
		// The address is the associated data: a ciphertext moved under another address fails.
		ct := aead.Seal(nil, nonce, k.Bytes(), f.Address[:])
		f.Crypto = &sealed{KDF: "scrypt", N: scryptN, R: scryptR, P: scryptP, Salt: hex.EncodeToString(salt),
			Cipher: "xchacha20-poly1305", Nonce: hex.EncodeToString(nonce), Ciphertext: hex.EncodeToString(ct)}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func deriveAEAD(password, salt []byte, n, r, p int) (interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, error) {
	key, err := scrypt.Key(password, salt, n, r, p, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("wallet: scrypt: %w", err)
	}
	return chacha20poly1305.NewX(key)
}

// Info is what a wallet file says without decrypting it.
type Info struct {
	Address   channel.Address
	PublicKey channel.PublicKey
	Encrypted bool
}

// Inspect reads the public part of a wallet file.
func Inspect(data []byte) (Info, error) {
	f, err := parse(data)
	if err != nil {
		return Info{}, err
	}
	return Info{Address: f.Address, PublicKey: f.PublicKey, Encrypted: f.Crypto != nil}, nil
}

func parse(data []byte) (*file, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadFile, len(data))
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if f.Version != version {
		return nil, fmt.Errorf("%w: version %d", ErrBadFile, f.Version)
	}
	if (f.Key == "") == (f.Crypto == nil) {
		return nil, fmt.Errorf("%w: want exactly one of key and crypto", ErrBadFile)
	}
	if f.PublicKey.Address() != f.Address {
		return nil, fmt.Errorf("%w: address does not match the public key", ErrBadFile)
	}
	return &f, nil
}

// Decode returns the key in a wallet file. password is ignored for a plain file.
func Decode(data []byte, password []byte) (*channel.PrivateKey, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	var raw []byte
	if f.Crypto == nil {
		if raw, err = hex.DecodeString(f.Key); err != nil {
			return nil, fmt.Errorf("%w: key: %v", ErrBadFile, err)
		}
	} else {
		if len(password) == 0 {
			return nil, ErrNeedPassword
		}
		c := f.Crypto
		if c.KDF != "scrypt" || c.Cipher != "xchacha20-poly1305" {
			return nil, fmt.Errorf("%w: unsupported kdf %q / cipher %q", ErrBadFile, c.KDF, c.Cipher)
		}
		if c.N < 2 || c.N > maxScryptN || c.N&(c.N-1) != 0 || c.R < 1 || c.P < 1 || c.R*c.P > maxScryptRP {
			return nil, fmt.Errorf("%w: scrypt cost n=%d r=%d p=%d out of bounds", ErrBadFile, c.N, c.R, c.P)
		}
		salt, err1 := hex.DecodeString(c.Salt)
		nonce, err2 := hex.DecodeString(c.Nonce)
		ct, err3 := hex.DecodeString(c.Ciphertext)
		if err := errors.Join(err1, err2, err3); err != nil || len(nonce) != chacha20poly1305.NonceSizeX || len(salt) < 8 {
			return nil, fmt.Errorf("%w: crypto fields", ErrBadFile)
		}
		aead, err := deriveAEAD(password, salt, c.N, c.R, c.P)
		if err != nil {
			return nil, err
		}
		if raw, err = aead.Open(nil, nonce, ct, f.Address[:]); err != nil {
			return nil, ErrWrongPassword
		}
	}
	k, err := channel.NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if k.Public() != f.PublicKey {
		return nil, fmt.Errorf("%w: key does not match the public key", ErrBadFile)
	}
	return k, nil
}

// Save writes a new wallet file (mode 0600). It refuses to overwrite an existing file: a
// lost key is lost money. The file appears whole or not at all, and durably: the key is
// written to a temporary file beside it and fsynced, linked to path (which fails if path
// exists), and the directory is fsynced so that the new name survives a crash too.
//
// Encryption stays optional (an empty password writes the key in the clear), as the spec
// says: the command lines of CONTRACTS.md create and use wallets without a password, and
// the demo and CI run unattended. A clear file is still mode 0600.
func Save(path string, k *channel.PrivateKey, password []byte) error {
	b, err := Encode(k, password)
	if err != nil {
		return err
	}
	return writeNew(path, b, (*os.File).Sync)
}

// writeNew writes b to a new file at path through a temporary file, calling sync on the
// file and then on its directory.
func writeNew(path string, b []byte, sync func(*os.File) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".wallet-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if err := sync(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer d.Close()
	if err := sync(d); err != nil {
		return fmt.Errorf("wallet: syncing %s: %w", dir, err)
	}
	return nil
}

// InspectFile reads the public part of the wallet file at path; it needs no password.
func InspectFile(path string) (Info, error) {
	b, err := readFile(path)
	if err != nil {
		return Info{}, err
	}
	return Inspect(b)
}

// Load reads and decodes a wallet file.
func Load(path string, password []byte) (*channel.PrivateKey, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(b, password)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	return b, nil
}
