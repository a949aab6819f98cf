package config

import (
	"reflect"
	"strings"
)

// allKeys lists every TOML key of the struct tree (last path element).
func allKeys() []string {
	var out []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)) && ft != reflect.TypeOf(Prefix{}) {
				walk(ft)
				continue
			}
			if ft.Kind() == reflect.Map {
				continue // [helo.checks]: documented check by check
			}
			out = append(out, tag)
		}
	}
	walk(reflect.TypeOf(Config{}))
	return out
}
