//! The `billingGroup` tag: a customer's billing groups, and the bills of one group.

use std::sync::Arc;

use billing_api::{
    apis::billing_group::{
        BillingGroup, CreateBillingGroupResponse, DeleteBillingGroupResponse,
        FindCustomerBillsByClientCodeAndBillingGroupResponse, ListBillingGroupsResponse,
        UpdateBillingGroupResponse,
    },
    models,
};

use super::{BillQuery, BillingService, CustomerRef, billing::bill_collection};
use crate::{
    auth::Caller,
    db::{self, billing_groups::Deleted},
    error::ApiError,
};

fn group_model(group: db::billing_groups::BillingGroup) -> models::BillingGroupRequest {
    models::BillingGroupRequest {
        address: group.address,
        group_id: Some(group.group_id),
    }
}

fn no_group(group_id: &str) -> ApiError {
    ApiError::NotFound(format!("the customer has no billing group `{group_id}`"))
}

impl BillingGroup for BillingService {
    async fn find_customer_bills_by_client_code_and_billing_group(
        &self,
        _caller: Arc<Caller>,
        path_params: models::FindCustomerBillsByClientCodeAndBillingGroupPathParams,
        query_params: models::FindCustomerBillsByClientCodeAndBillingGroupQueryParams,
        _header_params: models::FindCustomerBillsByClientCodeAndBillingGroupHeaderParams,
    ) -> Result<FindCustomerBillsByClientCodeAndBillingGroupResponse, ApiError> {
        let customer = CustomerRef::new(path_params.id_type, path_params.id)?;
        let group_id = path_params.group_id;
        let filter = BillQuery::from(query_params).into_filter(Some(group_id.clone()))?;
        let rows = db::run(&self.pool, move |conn| {
            let rows = db::invoices::page(conn, &customer.id_type, customer.code, &filter)?;
            // No bill: tell an unknown customer or group (404) from one without matches.
            if rows.is_empty() {
                let key = customer.key(conn)?;
                if !db::billing_groups::exists(conn, key, &group_id)? {
                    return Err(no_group(&group_id));
                }
            }
            Ok(rows)
        })
        .await?;
        Ok(FindCustomerBillsByClientCodeAndBillingGroupResponse::Ok(
            bill_collection(rows)?,
        ))
    }

    async fn list_billing_groups(
        &self,
        _caller: Arc<Caller>,
        path_params: models::ListBillingGroupsPathParams,
        _header_params: models::ListBillingGroupsHeaderParams,
    ) -> Result<ListBillingGroupsResponse, ApiError> {
        let customer = CustomerRef::new(path_params.id_type, path_params.id)?;
        let groups = db::run(&self.pool, move |conn| {
            let key = customer.key(conn)?;
            Ok(db::billing_groups::list(conn, key)?)
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
        _caller: Arc<Caller>,
        path_params: models::CreateBillingGroupPathParams,
        _header_params: models::CreateBillingGroupHeaderParams,
        body: models::BillingGroupRequest,
    ) -> Result<CreateBillingGroupResponse, ApiError> {
        let customer = CustomerRef::new(path_params.id_type, path_params.id)?;
        let group = db::billing_groups::BillingGroup {
            // A uuid's 32 hex digits match the spec's groupId pattern.
            group_id: body
                .group_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            address: body.address,
        };
        let created = db::run(&self.pool, move |conn| {
            let key = customer.key(conn)?;
            db::billing_groups::create(conn, key, &group)?.ok_or_else(|| {
                ApiError::Conflict(format!(
                    "the customer already has a billing group `{}`",
                    group.group_id
                ))
            })
        })
        .await?;
        Ok(CreateBillingGroupResponse::Ok(group_model(created)))
    }

    async fn update_billing_group(
        &self,
        _caller: Arc<Caller>,
        path_params: models::UpdateBillingGroupPathParams,
        _header_params: models::UpdateBillingGroupHeaderParams,
        body: models::BillingGroupUpdate,
    ) -> Result<UpdateBillingGroupResponse, ApiError> {
        let customer = CustomerRef::new(path_params.id_type, path_params.id)?;
        let group = db::billing_groups::BillingGroup {
            group_id: body.group_id,
            address: body.address,
        };
        let updated = db::run(&self.pool, move |conn| {
            let key = customer.key(conn)?;
            db::billing_groups::update_address(conn, key, &group)?
                .ok_or_else(|| no_group(&group.group_id))
        })
        .await?;
        Ok(UpdateBillingGroupResponse::Ok(group_model(updated)))
    }

    async fn delete_billing_group(
        &self,
        _caller: Arc<Caller>,
        path_params: models::DeleteBillingGroupPathParams,
        _header_params: models::DeleteBillingGroupHeaderParams,
    ) -> Result<DeleteBillingGroupResponse, ApiError> {
        let customer = CustomerRef::new(path_params.id_type, path_params.id)?;
        let group_id = path_params.group_id;
        let deleted = db::run(&self.pool, move |conn| {
            let key = customer.key(conn)?;
            match db::billing_groups::delete(conn, key, &group_id)? {
                Deleted::Group(group) => Ok(group),
                Deleted::Missing => Err(no_group(&group_id)),
                Deleted::StillHoldsInvoices => Err(ApiError::Conflict(format!(
                    "billing group `{group_id}` still holds invoices; move or remove them first"
                ))),
            }
        })
        .await?;
        Ok(DeleteBillingGroupResponse::Ok(group_model(deleted)))
    }
}
