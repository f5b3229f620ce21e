//! Table definitions shared by both backends (portable column types only).

diesel::table! {
    tenants (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        status -> Text,
        created_at -> Timestamp,
        mfa_policy -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        status -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    memberships (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        roles -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        name -> Text,
        kind -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        exchange_audiences -> Text,
    }
}

diesel::table! {
    audit_events (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
        id -> Text,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        source -> Text,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        outcome -> Text,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(clients -> tenants (tenant_id));

diesel::table! {
    login_decoys (slot) {
        slot -> Integer,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ingest_keys (tenant_id, caller, idempotency_key) {
        tenant_id -> Text,
        caller -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        events -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_devices (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    mfa_totp (user_id) {
        user_id -> Text,
        sealed_seed -> Text,
        last_step -> BigInt,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_credentials (credential_id) {
        credential_id -> Text,
        user_id -> Text,
        name -> Text,
        passkey -> Text,
        aaguid -> Text,
        backup_eligible -> Bool,
        backed_up -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    mfa_recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    mfa_totp,
    mfa_recovery_codes,
    webauthn_credentials,
    webauthn_ceremonies,
    login_devices,
    ingest_keys,
    login_decoys,
    users,
    memberships,
    clients,
    audit_events,
    issued_tokens,
    authorization_requests,
    sessions,
    auth_codes,
    refresh_tokens
);

diesel::table! {
    issued_tokens (tenant_id, jti) {
        tenant_id -> Text,
        jti -> Text,
        subject -> Text,
        client_id -> Text,
        token_type -> Text,
        scope -> Text,
        kid -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        family_id -> Nullable<Text>,
        amr -> Nullable<Text>,
        grant_type -> Nullable<Text>,
        parent_jti -> Nullable<Text>,
        actor -> Nullable<Text>,
    }
}

diesel::joinable!(issued_tokens -> tenants (tenant_id));

diesel::table! {
    authorization_requests (id_hash) {
        id_hash -> Text,
        csrf_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Text,
        tenant_hint -> Nullable<Text>,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        acr_values -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        amr -> Text,
    }
}

diesel::table! {
    auth_codes (tenant_id, code_hash) {
        tenant_id -> Text,
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Text,
        auth_time -> Timestamp,
        family_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        session_hash -> Nullable<Text>,
        amr -> Text,
    }
}

diesel::table! {
    refresh_tokens (tenant_id, token_hash) {
        tenant_id -> Text,
        token_hash -> Text,
        family_id -> Text,
        jti -> Text,
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        session_hash -> Nullable<Text>,
        amr -> Text,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        state_hash -> Nullable<Text>,
        code_verifier -> Nullable<Text>,
        return_to -> Nullable<Text>,
        claims -> Nullable<Text>,
        time_zone -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_chain_checks (tenant_id) {
        tenant_id -> Text,
        checked_at -> Timestamp,
        events -> BigInt,
        head_seq -> BigInt,
        first_bad_seq -> Nullable<BigInt>,
        problem -> Nullable<Text>,
        verified_seq -> BigInt,
        verified_hash -> Text,
        from_seq -> BigInt,
    }
}

diesel::table! {
    audit_rollups (tenant_id, hour, series, label) {
        tenant_id -> Text,
        hour -> Timestamp,
        series -> Text,
        label -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    audit_streams (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        url -> Text,
        format -> Text,
        state -> Text,
        secret_sealed -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        failing_since -> Nullable<Timestamp>,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        suspended_reason -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_stream_positions (tenant_id, stream_id) {
        tenant_id -> Text,
        stream_id -> Text,
        acked_seq -> BigInt,
        pending_until -> Nullable<BigInt>,
        checkpoint_seq -> BigInt,
        checkpoint_at -> Timestamp,
    }
}
