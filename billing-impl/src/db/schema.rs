// @generated automatically by Diesel CLI.

diesel::table! {
    billing_group_audit (customer_id, audit_id) {
        customer_id -> Int8,
        audit_id -> Int8,
        at -> Timestamptz,
        client_id -> Text,
        request_id -> Text,
        group_id -> Text,
        action -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        import_run_id -> Nullable<Int8>,
    }
}

diesel::table! {
    billing_groups (customer_id, group_id) {
        customer_id -> Int8,
        group_id -> Text,
        address -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    customer_changes (transaction_id, customer_id) {
        transaction_id -> Int8,
        customer_id -> Int8,
        invoice_delta -> Int8,
    }
}

diesel::table! {
    customer_changes_pending (transaction_id) {
        transaction_id -> Int8,
    }
}

diesel::table! {
    customers (customer_id) {
        customer_id -> Int8,
        id_type -> Text,
        code -> Int8,
        name -> Text,
        created_at -> Timestamptz,
        data_version -> Int8,
        invoice_count -> Int8,
    }
}

diesel::table! {
    idempotency_keys (client_id, idempotency_key) {
        client_id -> Text,
        idempotency_key -> Text,
        request_digest -> Bytea,
        answer -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    import_runs (run_id) {
        run_id -> Int8,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        kind -> Text,
        file_name -> Text,
        file_sha256 -> Nullable<Bytea>,
        atomic -> Bool,
        lines_read -> Int8,
        inserted -> Int8,
        updated -> Int8,
        unchanged -> Int8,
        rejected -> Int8,
        outcome -> Text,
    }
}

diesel::table! {
    invoices (customer_id, invoice_number) {
        customer_id -> Int8,
        invoice_number -> Text,
        billing_group_id -> Nullable<Text>,
        subscriber_msisdn -> Nullable<Int8>,
        contract_number -> Nullable<Int8>,
        invoice_status -> Text,
        bill_date -> Date,
        bill_period -> Nullable<Text>,
        period_start_date -> Nullable<Date>,
        period_end_date -> Nullable<Date>,
        expiration_date -> Nullable<Date>,
        expiration_electronic_date -> Nullable<Date>,
        print_date -> Nullable<Date>,
        payment_date -> Nullable<Date>,
        invoice_amount -> Numeric,
        invoice_balance -> Numeric,
        payment_amount -> Nullable<Numeric>,
        invoiced_service_count -> Nullable<Int4>,
        invoice_type -> Nullable<Text>,
        invoice_serial -> Nullable<Text>,
        invoice_description -> Nullable<Text>,
        billing_name -> Nullable<Text>,
        billing_address -> Nullable<Text>,
        billplan -> Nullable<Text>,
        contact_name -> Nullable<Text>,
        phone -> Nullable<Text>,
        cai -> Nullable<Text>,
        dei -> Nullable<Text>,
        attachment -> Nullable<Text>,
        created_at -> Timestamptz,
        customer_position -> Nullable<Int8>,
    }
}

diesel::table! {
    oauth_client_customers (client_id, customer_id) {
        client_id -> Text,
        customer_id -> Int8,
    }
}

diesel::table! {
    oauth_clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Text,
        status -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        all_customers -> Bool,
        lock_id -> Int4,
        rate_mode -> Text,
        rate_per_second -> Nullable<Int4>,
        rate_burst -> Nullable<Int4>,
        quota_mode -> Text,
        quota_limit -> Nullable<Int8>,
        quota_window -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_tokens (token_hash) {
        token_hash -> Bytea,
        client_id -> Text,
        scopes -> Text,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    quota_counts (client_id, window_start) {
        client_id -> Text,
        window_start -> Timestamptz,
        used -> Int8,
        last_grant -> Int8,
    }
}

diesel::table! {
    subscribers (customer_id, msisdn) {
        customer_id -> Int8,
        msisdn -> Int8,
        contract_number -> Int8,
        billing_address -> Nullable<Text>,
        billing_cycle -> Nullable<Text>,
        city -> Nullable<Text>,
        department -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    token_keys (key_id) {
        key_id -> Int4,
        secret -> Bytea,
        created_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(billing_groups -> customers (customer_id));
diesel::joinable!(invoices -> customers (customer_id));
diesel::joinable!(oauth_client_customers -> customers (customer_id));
diesel::joinable!(oauth_client_customers -> oauth_clients (client_id));
diesel::joinable!(oauth_tokens -> oauth_clients (client_id));
diesel::joinable!(quota_counts -> oauth_clients (client_id));
diesel::joinable!(subscribers -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    billing_group_audit,
    billing_groups,
    customer_changes,
    customer_changes_pending,
    customers,
    idempotency_keys,
    import_runs,
    invoices,
    oauth_client_customers,
    oauth_clients,
    oauth_tokens,
    quota_counts,
    subscribers,
    token_keys,
);
