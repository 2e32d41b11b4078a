//! The `billingGroup` tag: a customer's billing groups, and the bills of one group.

use std::sync::Arc;

use billing_api::{
    apis::billing_group::{
        BillingGroup, CreateBillingGroupResponse, DeleteBillingGroupByQueryResponse,
        DeleteBillingGroupResponse, FindCustomerBillsByClientCodeAndBillingGroupResponse,
        ListBillingGroupsResponse, UpdateBillingGroupResponse,
    },
    models,
};

use super::{
    Authenticated, BillingService, CustomerRef,
    bills::BillsPage,
    idempotency::{Written, request_digest},
};
use crate::{
    db::{self, audit::Action, billing_groups::Deleted},
    error::ApiError,
    http::conditional::{self, Answer, CACHE_CONTROL, IfNoneMatch},
};

fn group_model(group: db::billing_groups::BillingGroup) -> models::BillingGroupRequest {
    let db::billing_groups::BillingGroup { group_id, address } = group;
    models::BillingGroupRequest {
        address,
        group_id: Some(group_id),
    }
}

/// What the tag of a customer's list of groups is keyed by, beside the customer and its
/// version.
const GROUPS: &str = "groups";

/// The answer for a group the customer does not have.
pub(super) fn no_group(group_id: &str) -> ApiError {
    ApiError::NotFound(format!("the customer has no billing group `{group_id}`"))
}

impl BillingService {
    /// Deletes the customer's group, in either form the contract names it, once per
    /// `idempotency_key` (`operation` names the form).
    async fn delete_group(
        &self,
        caller: Arc<Authenticated>,
        customer: CustomerRef,
        group_id: String,
        idempotency_key: Option<String>,
        operation: &str,
    ) -> Result<Written<models::BillingGroupRequest>, ApiError> {
        let digest = request_digest(operation, &(&customer.id_type, customer.code, &group_id))?;
        let writer = caller.clone();
        self.write_once(&writer, idempotency_key, digest, move |conn| {
            let key = customer.key(conn)?;
            match db::billing_groups::delete(conn, key, &group_id)? {
                Deleted::Group(group) => {
                    let change = caller.change(key, &group_id, Action::Delete, Some(&group), None);
                    db::audit::record(conn, &change)?;
                    Ok(group_model(group))
                }
                Deleted::Missing => Err(no_group(&group_id)),
                Deleted::StillHoldsInvoices => Err(ApiError::Conflict(format!(
                    "billing group `{group_id}` still holds invoices; move or remove them first"
                ))),
            }
        })
        .await
    }
}

impl BillingGroup for BillingService {
    async fn find_customer_bills_by_client_code_and_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::FindCustomerBillsByClientCodeAndBillingGroupPathParams,
        query_params: models::FindCustomerBillsByClientCodeAndBillingGroupQueryParams,
        header_params: models::FindCustomerBillsByClientCodeAndBillingGroupHeaderParams,
    ) -> Result<FindCustomerBillsByClientCodeAndBillingGroupResponse, ApiError> {
        let models::FindCustomerBillsByClientCodeAndBillingGroupPathParams {
            id,
            id_type,
            group_id,
        } = path_params;
        let models::FindCustomerBillsByClientCodeAndBillingGroupHeaderParams { if_none_match } =
            header_params;
        let bills = self
            .list_bills(
                &caller,
                id_type,
                id,
                Some(group_id),
                query_params,
                if_none_match,
            )
            .await?;
        Ok(match bills {
            Answer::Full {
                body: BillsPage { bills, link, total },
                etag,
            } => FindCustomerBillsByClientCodeAndBillingGroupResponse::Ok {
                rate_limit: caller.rate_limit(),
                rate_limit_policy: caller.rate_limit_policy(),
                body: bills,
                cache_control: CACHE_CONTROL.to_owned(),
                e_tag: etag,
                x_total_count: total,
                link,
            },
            Answer::NotModified { etag } => {
                FindCustomerBillsByClientCodeAndBillingGroupResponse::NotModified {
                    rate_limit: caller.rate_limit(),
                    rate_limit_policy: caller.rate_limit_policy(),
                    cache_control: CACHE_CONTROL.to_owned(),
                    e_tag: etag,
                }
            }
        })
    }

    async fn list_billing_groups(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::ListBillingGroupsPathParams,
        header_params: models::ListBillingGroupsHeaderParams,
    ) -> Result<ListBillingGroupsResponse, ApiError> {
        let models::ListBillingGroupsPathParams { id, id_type } = path_params;
        let models::ListBillingGroupsHeaderParams { if_none_match } = header_params;
        let customer = caller.customer(id_type, id)?;
        let client = &caller.client.client_id;
        let current_tag = || self.current_tag(&caller, &customer, GROUPS);
        let read = || async {
            let (name, keys) = (customer.clone(), self.customer_keys.clone());
            self.reads
                .read(client, move |conn| {
                    // The groups and the version they are tagged with, from one snapshot.
                    conn.build_transaction()
                        .repeatable_read()
                        .read_only()
                        .run(|conn| {
                            let (key, version) = keys
                                .versioned(conn, &name.id_type, name.code)?
                                .ok_or_else(|| name.not_found())?;
                            let groups = db::billing_groups::list(conn, key)?;
                            Ok::<_, ApiError>((groups, conditional::etag(key, version, GROUPS)))
                        })
                })
                .await
        };
        let answer =
            conditional::answer(IfNoneMatch::new(if_none_match), current_tag, read).await?;
        let cache_control = CACHE_CONTROL.to_owned();
        Ok(match answer {
            Answer::Full { body: groups, etag } => ListBillingGroupsResponse::Ok {
                rate_limit: caller.rate_limit(),
                rate_limit_policy: caller.rate_limit_policy(),
                body: models::BillingGroupCollection {
                    billing_group: groups.into_iter().map(group_model).collect(),
                },
                cache_control,
                e_tag: etag,
            },
            Answer::NotModified { etag } => ListBillingGroupsResponse::NotModified {
                rate_limit: caller.rate_limit(),
                rate_limit_policy: caller.rate_limit_policy(),
                cache_control,
                e_tag: etag,
            },
        })
    }

    async fn create_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::CreateBillingGroupPathParams,
        header_params: models::CreateBillingGroupHeaderParams,
        body: models::BillingGroupRequest,
    ) -> Result<CreateBillingGroupResponse, ApiError> {
        let models::CreateBillingGroupPathParams { id, id_type } = path_params;
        let models::CreateBillingGroupHeaderParams { idempotency_key } = header_params;
        let digest = request_digest("CreateBillingGroup", &(&id_type, id, &body))?;
        let models::BillingGroupRequest { address, group_id } = body;
        let customer = caller.customer(id_type, id)?;
        // Taken before `caller` moves into the work.
        let (rate_limit, rate_limit_policy) = (caller.rate_limit(), caller.rate_limit_policy());
        let group = db::billing_groups::BillingGroup {
            // A uuid's 32 hex digits match the spec's groupId pattern.
            group_id: group_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            address,
        };
        let writer = caller.clone();
        let created = self
            .write_once(&writer, idempotency_key, digest, move |conn| {
                let key = customer.key(conn)?;
                let created = db::billing_groups::create(conn, key, &group)?.ok_or_else(|| {
                    ApiError::Conflict(format!(
                        "the customer already has a billing group `{}`",
                        group.group_id
                    ))
                })?;
                let change =
                    caller.change(key, &created.group_id, Action::Create, None, Some(&created));
                db::audit::record(conn, &change)?;
                Ok(group_model(created))
            })
            .await?;
        Ok(CreateBillingGroupResponse::Ok {
            rate_limit,
            rate_limit_policy,
            idempotent_replayed: created.replayed_header(),
            body: created.answer,
        })
    }

    async fn update_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::UpdateBillingGroupPathParams,
        header_params: models::UpdateBillingGroupHeaderParams,
        body: models::BillingGroupUpdate,
    ) -> Result<UpdateBillingGroupResponse, ApiError> {
        let models::UpdateBillingGroupPathParams { id, id_type } = path_params;
        let models::UpdateBillingGroupHeaderParams { idempotency_key } = header_params;
        let digest = request_digest("UpdateBillingGroup", &(&id_type, id, &body))?;
        let models::BillingGroupUpdate { address, group_id } = body;
        let customer = caller.customer(id_type, id)?;
        // Taken before `caller` moves into the work.
        let (rate_limit, rate_limit_policy) = (caller.rate_limit(), caller.rate_limit_policy());
        let group = db::billing_groups::BillingGroup { group_id, address };
        let writer = caller.clone();
        let updated = self
            .write_once(&writer, idempotency_key, digest, move |conn| {
                let key = customer.key(conn)?;
                let before = db::billing_groups::find_for_update(conn, key, &group.group_id)?
                    .ok_or_else(|| no_group(&group.group_id))?;
                let updated = db::billing_groups::update_address(conn, key, &group)?
                    .ok_or_else(|| no_group(&group.group_id))?;
                let change = caller.change(
                    key,
                    &group.group_id,
                    Action::Update,
                    Some(&before),
                    Some(&updated),
                );
                db::audit::record(conn, &change)?;
                Ok(group_model(updated))
            })
            .await?;
        Ok(UpdateBillingGroupResponse::Ok {
            rate_limit,
            rate_limit_policy,
            idempotent_replayed: updated.replayed_header(),
            body: updated.answer,
        })
    }

    async fn delete_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::DeleteBillingGroupPathParams,
        header_params: models::DeleteBillingGroupHeaderParams,
    ) -> Result<DeleteBillingGroupResponse, ApiError> {
        let models::DeleteBillingGroupPathParams {
            id,
            id_type,
            group_id,
        } = path_params;
        let models::DeleteBillingGroupHeaderParams { idempotency_key } = header_params;
        let customer = caller.customer(id_type, id)?;
        // Taken before `caller` moves into the work.
        let (rate_limit, rate_limit_policy) = (caller.rate_limit(), caller.rate_limit_policy());
        let deleted = self
            .delete_group(
                caller,
                customer,
                group_id,
                idempotency_key,
                "DeleteBillingGroup",
            )
            .await?;
        Ok(DeleteBillingGroupResponse::Ok {
            rate_limit,
            rate_limit_policy,
            idempotent_replayed: deleted.replayed_header(),
            body: deleted.answer,
        })
    }

    async fn delete_billing_group_by_query(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::DeleteBillingGroupByQueryPathParams,
        query_params: models::DeleteBillingGroupByQueryQueryParams,
        header_params: models::DeleteBillingGroupByQueryHeaderParams,
    ) -> Result<DeleteBillingGroupByQueryResponse, ApiError> {
        let models::DeleteBillingGroupByQueryPathParams { id, id_type } = path_params;
        let models::DeleteBillingGroupByQueryQueryParams { group_id } = query_params;
        let models::DeleteBillingGroupByQueryHeaderParams { idempotency_key } = header_params;
        let customer = caller.customer(id_type, id)?;
        // Taken before `caller` moves into the work.
        let (rate_limit, rate_limit_policy) = (caller.rate_limit(), caller.rate_limit_policy());
        let deleted = self
            .delete_group(
                caller,
                customer,
                group_id,
                idempotency_key,
                "DeleteBillingGroupByQuery",
            )
            .await?;
        Ok(DeleteBillingGroupByQueryResponse::Ok {
            rate_limit,
            rate_limit_policy,
            idempotent_replayed: deleted.replayed_header(),
            body: deleted.answer,
        })
    }
}
