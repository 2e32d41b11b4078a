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

use super::{Authenticated, BillingService, CustomerRef};
use crate::{
    db::{self, audit::Action, billing_groups::Deleted},
    error::ApiError,
};

fn group_model(group: db::billing_groups::BillingGroup) -> models::BillingGroupRequest {
    let db::billing_groups::BillingGroup { group_id, address } = group;
    models::BillingGroupRequest {
        address,
        group_id: Some(group_id),
    }
}

/// The answer for a group the customer does not have.
pub(super) fn no_group(group_id: &str) -> ApiError {
    ApiError::NotFound(format!("the customer has no billing group `{group_id}`"))
}

impl BillingService {
    /// Deletes the customer's group, in either form the contract names it.
    async fn delete_group(
        &self,
        caller: Arc<Authenticated>,
        customer: CustomerRef,
        group_id: String,
    ) -> Result<models::BillingGroupRequest, ApiError> {
        let writer = caller.clone();
        let deleted = self
            .write(&writer, move |conn| {
                let key = customer.key(conn)?;
                match db::billing_groups::delete(conn, key, &group_id)? {
                    Deleted::Group(group) => {
                        let change =
                            caller.change(key, &group_id, Action::Delete, Some(&group), None);
                        db::audit::record(conn, &change)?;
                        Ok(group)
                    }
                    Deleted::Missing => Err(no_group(&group_id)),
                    Deleted::StillHoldsInvoices => Err(ApiError::Conflict(format!(
                        "billing group `{group_id}` still holds invoices; move or remove them first"
                    ))),
                }
            })
            .await?;
        Ok(group_model(deleted))
    }
}

impl BillingGroup for BillingService {
    async fn find_customer_bills_by_client_code_and_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::FindCustomerBillsByClientCodeAndBillingGroupPathParams,
        query_params: models::FindCustomerBillsByClientCodeAndBillingGroupQueryParams,
    ) -> Result<FindCustomerBillsByClientCodeAndBillingGroupResponse, ApiError> {
        let models::FindCustomerBillsByClientCodeAndBillingGroupPathParams {
            id,
            id_type,
            group_id,
        } = path_params;
        let bills = self
            .list_bills(&caller, id_type, id, Some(group_id), query_params)
            .await?;
        Ok(FindCustomerBillsByClientCodeAndBillingGroupResponse::Ok(
            bills,
        ))
    }

    async fn list_billing_groups(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::ListBillingGroupsPathParams,
    ) -> Result<ListBillingGroupsResponse, ApiError> {
        let models::ListBillingGroupsPathParams { id, id_type } = path_params;
        let customer = caller.customer(id_type, id)?;
        let groups = self
            .reads
            .read(&caller.client.client_id, move |conn| {
                let key = customer.key(conn)?;
                Ok::<_, ApiError>(db::billing_groups::list(conn, key)?)
            })
            .await?;
        Ok(ListBillingGroupsResponse::Ok(
            models::BillingGroupCollection {
                billing_group: groups.into_iter().map(group_model).collect(),
            },
        ))
    }

    async fn create_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::CreateBillingGroupPathParams,
        body: models::BillingGroupRequest,
    ) -> Result<CreateBillingGroupResponse, ApiError> {
        let models::CreateBillingGroupPathParams { id, id_type } = path_params;
        let models::BillingGroupRequest { address, group_id } = body;
        let customer = caller.customer(id_type, id)?;
        let group = db::billing_groups::BillingGroup {
            // A uuid's 32 hex digits match the spec's groupId pattern.
            group_id: group_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            address,
        };
        let writer = caller.clone();
        let created = self
            .write(&writer, move |conn| {
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
                Ok::<_, ApiError>(created)
            })
            .await?;
        Ok(CreateBillingGroupResponse::Ok(group_model(created)))
    }

    async fn update_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::UpdateBillingGroupPathParams,
        body: models::BillingGroupUpdate,
    ) -> Result<UpdateBillingGroupResponse, ApiError> {
        let models::UpdateBillingGroupPathParams { id, id_type } = path_params;
        let models::BillingGroupUpdate { address, group_id } = body;
        let customer = caller.customer(id_type, id)?;
        let group = db::billing_groups::BillingGroup { group_id, address };
        let writer = caller.clone();
        let updated = self
            .write(&writer, move |conn| {
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
                Ok::<_, ApiError>(updated)
            })
            .await?;
        Ok(UpdateBillingGroupResponse::Ok(group_model(updated)))
    }

    async fn delete_billing_group(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::DeleteBillingGroupPathParams,
    ) -> Result<DeleteBillingGroupResponse, ApiError> {
        let models::DeleteBillingGroupPathParams {
            id,
            id_type,
            group_id,
        } = path_params;
        let customer = caller.customer(id_type, id)?;
        let deleted = self.delete_group(caller, customer, group_id).await?;
        Ok(DeleteBillingGroupResponse::Ok(deleted))
    }

    async fn delete_billing_group_by_query(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::DeleteBillingGroupByQueryPathParams,
        query_params: models::DeleteBillingGroupByQueryQueryParams,
    ) -> Result<DeleteBillingGroupByQueryResponse, ApiError> {
        let models::DeleteBillingGroupByQueryPathParams { id, id_type } = path_params;
        let models::DeleteBillingGroupByQueryQueryParams { group_id } = query_params;
        let customer = caller.customer(id_type, id)?;
        let deleted = self.delete_group(caller, customer, group_id).await?;
        Ok(DeleteBillingGroupByQueryResponse::Ok(deleted))
    }
}
