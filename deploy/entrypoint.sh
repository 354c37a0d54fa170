#!/bin/sh
# Container entrypoint: `sharpeyes <args>`, after building this process's broker URL.
#
# When MQTT_ACCOUNT is set and SHARPEYES_MQTT_URL is not, the URL is built from the
# account name and its password, derived from SHARPEYES_BROKER_SECRET by
# `sharpeyes broker password` (the same derivation that wrote the broker's password
# file), so a deployment configures one secret instead of one password per service.
# MQTT_SCHEME (mqtt|mqtts), MQTT_HOST and MQTT_PORT say where the broker is.
set -eu

if [ -n "${MQTT_ACCOUNT:-}" ] && [ -z "${SHARPEYES_MQTT_URL:-}" ]; then
    password="$(sharpeyes broker password "$MQTT_ACCOUNT")"
    scheme="${MQTT_SCHEME:-mqtt}"
    # The broker's services listeners (mosquitto.conf, tls.conf.example); devices use
    # 1883/8883, where the client id is bound to the username.
    default_port=1884
    [ "$scheme" = "mqtts" ] && default_port=8884
    # Derived passwords are base64url: safe in a URL as they are.
    SHARPEYES_MQTT_URL="${scheme}://${MQTT_ACCOUNT}:${password}@${MQTT_HOST:-broker}:${MQTT_PORT:-$default_port}"
    export SHARPEYES_MQTT_URL
fi

exec sharpeyes "$@"
