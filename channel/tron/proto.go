package tron

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protobuf wire types used by the messages here.
const (
	wireVarint  = 0
	wireBytes   = 2
	wireFixed64 = 1
	wireFixed32 = 5
)

// ErrProto is returned for bytes that are not a well-formed protobuf message of the
// expected shape.
var ErrProto = errors.New("tron: malformed protobuf")

func appendTag(b []byte, field int, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

// appendBytesField writes a length-delimited field; proto3 omits empty ones.
func appendBytesField(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendInt64Field writes an int64 as a varint (negative values take 10 bytes, as in
// protobuf); proto3 omits zero.
func appendInt64Field(b []byte, field int, v int64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, field, wireVarint)
	return binary.AppendUvarint(b, uint64(v))
}

// field is one decoded protobuf field.
type field struct {
	num   int
	wire  int
	value uint64 // varint and fixed values
	bytes []byte // length-delimited values (a sub-slice of the input)
}

// parseFields splits a message into its fields, checking every length against the input
// before using it. Groups (wire types 3 and 4) are refused.
func parseFields(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: bad tag", ErrProto)
		}
		b = b[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		if key>>3 == 0 || key>>3 > 1<<29-1 {
			return fmt.Errorf("%w: field number %d", ErrProto, key>>3)
		}
		switch f.wire {
		case wireVarint:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad varint in field %d", ErrProto, f.num)
			}
			f.value, b = v, b[n:]
		case wireFixed64:
			if len(b) < 8 {
				return fmt.Errorf("%w: short fixed64", ErrProto)
			}
			f.value, b = binary.LittleEndian.Uint64(b), b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return fmt.Errorf("%w: short fixed32", ErrProto)
			}
			f.value, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("%w: length of field %d", ErrProto, f.num)
			}
			f.bytes, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return fmt.Errorf("%w: wire type %d", ErrProto, f.wire)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
