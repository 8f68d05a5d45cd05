//! The standard objects every org has: Organization, Profile, User, Account, Contact, Lead, Opportunity and Case,
//! with their real fields.

use super::errors::SchemaError;
use super::schema::{FieldSpec, FieldType, ObjectSchema, PicklistValue};

/// A small builder over [`FieldSpec`] so the standard field lists read like a table.
struct F(FieldSpec);

fn field(name: &str, field_type: FieldType) -> F {
    F(FieldSpec {
        name: name.into(),
        field_type: Some(field_type),
        custom: Some(false),
        ..FieldSpec::default()
    })
}
fn text(name: &str, length: u32) -> F {
    field(name, FieldType::String).length(length)
}
fn textarea(name: &str, length: u32) -> F {
    field(name, FieldType::Textarea).length(length)
}
fn picklist(name: &str, values: &[&str]) -> F {
    field(name, FieldType::Picklist).values(values)
}
fn reference(name: &str, targets: &[&str], relationship: &str) -> F {
    let mut f = field(name, FieldType::Reference);
    f.0.reference_to = Some(targets.iter().map(|t| t.to_string()).collect());
    f.0.relationship_name = Some(relationship.into());
    f
}
fn number(name: &str, field_type: FieldType, precision: u32, scale: u32) -> F {
    let mut f = field(name, field_type);
    f.0.precision = Some(precision);
    f.0.scale = Some(scale);
    f
}

impl F {
    fn length(mut self, length: u32) -> F {
        self.0.length = Some(length);
        self
    }
    fn label(mut self, label: &str) -> F {
        self.0.label = Some(label.into());
        self
    }
    fn required(mut self) -> F {
        self.0.nillable = Some(false);
        self
    }
    fn read_only(mut self) -> F {
        self.0.createable = Some(false);
        self.0.updateable = Some(false);
        self
    }
    fn name_field(mut self) -> F {
        self.0.name_field = Some(true);
        self.0.id_lookup = Some(true);
        self
    }
    fn id_lookup(mut self) -> F {
        self.0.id_lookup = Some(true);
        self
    }
    fn restricted(mut self) -> F {
        self.0.restricted_picklist = Some(true);
        self
    }
    fn values(mut self, values: &[&str]) -> F {
        self.0.picklist_values = Some(
            values
                .iter()
                .map(|v| PicklistValue {
                    active: true,
                    default_value: false,
                    label: Some(v.to_string()),
                    valid_for: None,
                    value: v.to_string(),
                })
                .collect(),
        );
        self
    }
    fn default_picklist(mut self, default: &str) -> F {
        if let Some(values) = self.0.picklist_values.as_mut() {
            for value in values.iter_mut() {
                value.default_value = value.value == default;
            }
        }
        self.0.defaulted_on_create = Some(true);
        self
    }
    fn compound(mut self, compound: &str) -> F {
        self.0.compound_field_name = Some(compound.into());
        self
    }
    fn digits(mut self, digits: u32) -> F {
        self.0.digits = Some(digits);
        self
    }
    fn unique(mut self) -> F {
        self.0.unique = Some(true);
        self
    }
    fn auto_number(mut self) -> F {
        self.0.auto_number = Some(true);
        self.0.defaulted_on_create = Some(true);
        self.0.nillable = Some(false);
        self
    }
    fn default_value(mut self, value: serde_json::Value) -> F {
        self.0.default_value = Some(value);
        self.0.defaulted_on_create = Some(true);
        self
    }
    fn defaulted(mut self) -> F {
        self.0.defaulted_on_create = Some(true);
        self
    }
}

/// System fields every object has; `IsDeleted` is left out for User, as in a real org.
fn system_fields(with_is_deleted: bool) -> Vec<F> {
    let mut fields = vec![field("Id", FieldType::Id).label("Record ID")];
    if with_is_deleted {
        fields.push(
            field("IsDeleted", FieldType::Boolean)
                .read_only()
                .label("Deleted"),
        );
    }
    fields
}

fn audit_fields() -> Vec<F> {
    vec![
        field("CreatedDate", FieldType::Datetime)
            .read_only()
            .required()
            .defaulted()
            .label("Created Date"),
        reference("CreatedById", &["User"], "CreatedBy")
            .read_only()
            .required()
            .defaulted()
            .label("Created By ID"),
        field("LastModifiedDate", FieldType::Datetime)
            .read_only()
            .required()
            .defaulted()
            .label("Last Modified Date"),
        reference("LastModifiedById", &["User"], "LastModifiedBy")
            .read_only()
            .required()
            .defaulted()
            .label("Last Modified By ID"),
        field("SystemModstamp", FieldType::Datetime)
            .read_only()
            .required()
            .defaulted()
            .label("System Modstamp"),
    ]
}

fn owner(targets: &[&str]) -> F {
    let mut f = reference("OwnerId", targets, "Owner")
        .required()
        .defaulted()
        .label("Owner ID");
    f.0.name_pointing = Some(targets.len() > 1);
    f
}

fn address(prefix: &str) -> Vec<F> {
    let compound = format!("{prefix}Address");
    let accuracy = [
        "Address",
        "NearAddress",
        "Block",
        "Street",
        "ExtendedZip",
        "Zip",
        "Neighborhood",
        "City",
        "County",
        "State",
        "Unknown",
    ];
    let label = |suffix: &str| format!("{prefix} {suffix}").trim().to_string();
    vec![
        textarea(&format!("{prefix}Street"), 255)
            .compound(&compound)
            .label(&label("Street")),
        text(&format!("{prefix}City"), 40)
            .compound(&compound)
            .label(&label("City")),
        text(&format!("{prefix}State"), 80)
            .compound(&compound)
            .label(&label("State/Province")),
        text(&format!("{prefix}PostalCode"), 20)
            .compound(&compound)
            .label(&label("Zip/Postal Code")),
        text(&format!("{prefix}Country"), 80)
            .compound(&compound)
            .label(&label("Country")),
        number(&format!("{prefix}Latitude"), FieldType::Double, 18, 15)
            .compound(&compound)
            .label(&label("Latitude")),
        number(&format!("{prefix}Longitude"), FieldType::Double, 18, 15)
            .compound(&compound)
            .label(&label("Longitude")),
        picklist(&format!("{prefix}GeocodeAccuracy"), &accuracy)
            .restricted()
            .compound(&compound)
            .label(&label("Geocode Accuracy")),
        field(&compound, FieldType::Address)
            .read_only()
            .label(&label("Address")),
    ]
}

const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
];
const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const RATINGS: &[&str] = &["Hot", "Warm", "Cold"];
const SALUTATIONS: &[&str] = &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."];

fn account() -> Vec<F> {
    let mut fields = system_fields(true);
    fields.extend([
        reference("MasterRecordId", &["Account"], "MasterRecord")
            .read_only()
            .label("Master Record ID"),
        text("Name", 255)
            .required()
            .name_field()
            .label("Account Name"),
        picklist(
            "Type",
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ],
        )
        .label("Account Type"),
        reference("ParentId", &["Account"], "Parent").label("Parent Account ID"),
    ]);
    fields.extend(address("Billing"));
    fields.extend(address("Shipping"));
    fields.extend([
        field("Phone", FieldType::Phone).label("Account Phone"),
        field("Fax", FieldType::Phone).label("Account Fax"),
        text("AccountNumber", 40).label("Account Number"),
        field("Website", FieldType::Url).label("Website"),
        text("Sic", 20).label("SIC Code"),
        picklist("Industry", INDUSTRIES).label("Industry"),
        number("AnnualRevenue", FieldType::Currency, 18, 0).label("Annual Revenue"),
        field("NumberOfEmployees", FieldType::Int)
            .digits(8)
            .label("Employees"),
        picklist("Ownership", &["Public", "Private", "Subsidiary", "Other"]).label("Ownership"),
        text("TickerSymbol", 20).label("Ticker Symbol"),
        textarea("Description", 32000).label("Account Description"),
        picklist("Rating", RATINGS).label("Account Rating"),
        text("Site", 80).label("Account Site"),
        owner(&["User"]),
    ]);
    fields.extend(audit_fields());
    fields.extend([
        field("LastActivityDate", FieldType::Date)
            .read_only()
            .label("Last Activity"),
        field("LastViewedDate", FieldType::Datetime)
            .read_only()
            .label("Last Viewed Date"),
        field("LastReferencedDate", FieldType::Datetime)
            .read_only()
            .label("Last Referenced Date"),
        picklist("AccountSource", LEAD_SOURCES).label("Account Source"),
    ]);
    fields
}

fn person_name_fields(last_length: u32) -> Vec<F> {
    vec![
        text("LastName", last_length).required().label("Last Name"),
        text("FirstName", 40).label("First Name"),
        picklist("Salutation", SALUTATIONS).label("Salutation"),
        text("Name", 121)
            .read_only()
            .name_field()
            .label("Full Name"),
    ]
}

fn contact() -> Vec<F> {
    let mut fields = system_fields(true);
    fields.extend([
        reference("MasterRecordId", &["Contact"], "MasterRecord")
            .read_only()
            .label("Master Record ID"),
        reference("AccountId", &["Account"], "Account").label("Account ID"),
    ]);
    fields.extend(person_name_fields(80));
    fields.extend(address("Other"));
    fields.extend(address("Mailing"));
    fields.extend([
        field("Phone", FieldType::Phone).label("Business Phone"),
        field("Fax", FieldType::Phone).label("Business Fax"),
        field("MobilePhone", FieldType::Phone).label("Mobile Phone"),
        field("HomePhone", FieldType::Phone).label("Home Phone"),
        field("OtherPhone", FieldType::Phone).label("Other Phone"),
        field("AssistantPhone", FieldType::Phone).label("Asst. Phone"),
        reference("ReportsToId", &["Contact"], "ReportsTo").label("Reports To ID"),
        field("Email", FieldType::Email).id_lookup().label("Email"),
        text("Title", 128).label("Title"),
        text("Department", 80).label("Department"),
        text("AssistantName", 40).label("Assistant's Name"),
        picklist("LeadSource", LEAD_SOURCES).label("Lead Source"),
        field("Birthdate", FieldType::Date).label("Birthdate"),
        textarea("Description", 32000).label("Contact Description"),
        owner(&["User"]),
        field("HasOptedOutOfEmail", FieldType::Boolean).label("Email Opt Out"),
        field("DoNotCall", FieldType::Boolean).label("Do Not Call"),
    ]);
    fields.extend(audit_fields());
    fields.extend([
        field("LastActivityDate", FieldType::Date)
            .read_only()
            .label("Last Activity"),
        field("LastViewedDate", FieldType::Datetime)
            .read_only()
            .label("Last Viewed Date"),
        field("LastReferencedDate", FieldType::Datetime)
            .read_only()
            .label("Last Referenced Date"),
        text("EmailBouncedReason", 255).label("Email Bounced Reason"),
        field("EmailBouncedDate", FieldType::Datetime).label("Email Bounced Date"),
    ]);
    fields
}

fn lead() -> Vec<F> {
    let mut fields = system_fields(true);
    fields.push(
        reference("MasterRecordId", &["Lead"], "MasterRecord")
            .read_only()
            .label("Master Record ID"),
    );
    fields.extend(person_name_fields(80));
    fields.extend([
        text("Title", 128).label("Title"),
        text("Company", 255).required().label("Company"),
    ]);
    fields.extend(address(""));
    fields.extend([
        field("Phone", FieldType::Phone).label("Phone"),
        field("MobilePhone", FieldType::Phone).label("Mobile Phone"),
        field("Fax", FieldType::Phone).label("Fax"),
        field("Email", FieldType::Email).id_lookup().label("Email"),
        field("Website", FieldType::Url).label("Website"),
        textarea("Description", 32000).label("Description"),
        picklist("LeadSource", LEAD_SOURCES).label("Lead Source"),
        picklist(
            "Status",
            &[
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ],
        )
        .default_picklist("Open - Not Contacted")
        .required()
        .label("Status"),
        picklist("Industry", INDUSTRIES).label("Industry"),
        picklist("Rating", RATINGS).label("Rating"),
        number("AnnualRevenue", FieldType::Currency, 18, 0).label("Annual Revenue"),
        field("NumberOfEmployees", FieldType::Int)
            .digits(8)
            .label("Employees"),
        owner(&["Group", "User"]),
        field("IsConverted", FieldType::Boolean).label("Converted"),
        field("ConvertedDate", FieldType::Date)
            .read_only()
            .label("Converted Date"),
        reference("ConvertedAccountId", &["Account"], "ConvertedAccount")
            .read_only()
            .label("Converted Account ID"),
        reference("ConvertedContactId", &["Contact"], "ConvertedContact")
            .read_only()
            .label("Converted Contact ID"),
        reference(
            "ConvertedOpportunityId",
            &["Opportunity"],
            "ConvertedOpportunity",
        )
        .read_only()
        .label("Converted Opportunity ID"),
        field("IsUnreadByOwner", FieldType::Boolean).label("Unread By Owner"),
    ]);
    fields.extend(audit_fields());
    fields.extend([
        field("LastActivityDate", FieldType::Date)
            .read_only()
            .label("Last Activity"),
        field("LastViewedDate", FieldType::Datetime)
            .read_only()
            .label("Last Viewed Date"),
        field("LastReferencedDate", FieldType::Datetime)
            .read_only()
            .label("Last Referenced Date"),
    ]);
    fields
}

/// Opportunity stages; `Closed Won` and `Closed Lost` close the opportunity.
pub const OPPORTUNITY_STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];

fn opportunity() -> Vec<F> {
    let mut fields = system_fields(true);
    fields.extend([
        reference("AccountId", &["Account"], "Account").label("Account ID"),
        field("IsPrivate", FieldType::Boolean).label("Private"),
        text("Name", 120).required().name_field().label("Name"),
        textarea("Description", 32000).label("Description"),
        picklist("StageName", OPPORTUNITY_STAGES)
            .restricted()
            .required()
            .label("Stage"),
        number("Amount", FieldType::Currency, 16, 2).label("Amount"),
        number("Probability", FieldType::Percent, 3, 0).label("Probability (%)"),
        number("ExpectedRevenue", FieldType::Currency, 18, 2)
            .read_only()
            .label("Expected Amount"),
        number("TotalOpportunityQuantity", FieldType::Double, 18, 2).label("Quantity"),
        field("CloseDate", FieldType::Date)
            .required()
            .label("Close Date"),
        picklist(
            "Type",
            &[
                "Existing Customer - Upgrade",
                "Existing Customer - Replacement",
                "Existing Customer - Downgrade",
                "New Customer",
            ],
        )
        .label("Opportunity Type"),
        text("NextStep", 255).label("Next Step"),
        picklist("LeadSource", LEAD_SOURCES).label("Lead Source"),
        field("IsClosed", FieldType::Boolean)
            .read_only()
            .label("Closed"),
        field("IsWon", FieldType::Boolean).read_only().label("Won"),
        picklist(
            "ForecastCategory",
            &["Omitted", "Pipeline", "BestCase", "Forecast", "Closed"],
        )
        .read_only()
        .label("Forecast Category"),
        owner(&["User"]),
    ]);
    fields.extend(audit_fields());
    fields.extend([
        field("LastActivityDate", FieldType::Date)
            .read_only()
            .label("Last Activity"),
        field("FiscalQuarter", FieldType::Int)
            .read_only()
            .label("Fiscal Quarter"),
        field("FiscalYear", FieldType::Int)
            .read_only()
            .label("Fiscal Year"),
        field("LastViewedDate", FieldType::Datetime)
            .read_only()
            .label("Last Viewed Date"),
        field("LastReferencedDate", FieldType::Datetime)
            .read_only()
            .label("Last Referenced Date"),
    ]);
    fields
}

fn case() -> Vec<F> {
    let mut fields = system_fields(true);
    fields.extend([
        reference("MasterRecordId", &["Case"], "MasterRecord")
            .read_only()
            .label("Master Record ID"),
        text("CaseNumber", 30)
            .auto_number()
            .name_field()
            .label("Case Number"),
        reference("ContactId", &["Contact"], "Contact").label("Contact ID"),
        reference("AccountId", &["Account"], "Account").label("Account ID"),
        reference("ParentId", &["Case"], "Parent").label("Parent Case ID"),
        text("SuppliedName", 80).label("Name"),
        field("SuppliedEmail", FieldType::Email).label("Email Address"),
        text("SuppliedPhone", 40).label("Phone"),
        text("SuppliedCompany", 80).label("Company"),
        picklist(
            "Type",
            &[
                "Mechanical",
                "Electrical",
                "Electronic",
                "Structural",
                "Other",
            ],
        )
        .label("Case Type"),
        picklist("Status", &["New", "Working", "Escalated", "Closed"])
            .default_picklist("New")
            .label("Status"),
        picklist(
            "Reason",
            &[
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Equipment Design",
                "Feedback",
                "Other",
            ],
        )
        .label("Case Reason"),
        picklist("Origin", &["Phone", "Email", "Web"]).label("Case Origin"),
        text("Subject", 255).label("Subject"),
        picklist("Priority", &["High", "Medium", "Low"])
            .default_picklist("Medium")
            .label("Priority"),
        textarea("Description", 32000).label("Description"),
        field("IsClosed", FieldType::Boolean)
            .read_only()
            .label("Closed"),
        field("ClosedDate", FieldType::Datetime)
            .read_only()
            .label("Closed Date"),
        field("IsEscalated", FieldType::Boolean).label("Escalated"),
        owner(&["Group", "User"]),
    ]);
    fields.extend(audit_fields());
    fields.extend([
        field("LastViewedDate", FieldType::Datetime)
            .read_only()
            .label("Last Viewed Date"),
        field("LastReferencedDate", FieldType::Datetime)
            .read_only()
            .label("Last Referenced Date"),
    ]);
    fields
}

fn user() -> Vec<F> {
    let mut fields = system_fields(false);
    fields.extend([
        text("Username", 80)
            .required()
            .unique()
            .id_lookup()
            .label("Username"),
        text("LastName", 80).required().label("Last Name"),
        text("FirstName", 40).label("First Name"),
        text("Name", 121)
            .read_only()
            .name_field()
            .label("Full Name"),
        text("CompanyName", 80).label("Company Name"),
        text("Division", 80).label("Division"),
        text("Department", 80).label("Department"),
        text("Title", 80).label("Title"),
        field("Email", FieldType::Email)
            .length(128)
            .required()
            .label("Email"),
        text("Alias", 8).required().label("Alias"),
        text("CommunityNickname", 40).label("Nickname"),
        field("IsActive", FieldType::Boolean)
            .default_value(serde_json::Value::Bool(true))
            .label("Active"),
        picklist(
            "TimeZoneSidKey",
            &[
                "GMT",
                "America/Los_Angeles",
                "America/New_York",
                "Europe/London",
                "Europe/Paris",
                "Asia/Tokyo",
            ],
        )
        .restricted()
        .required()
        .default_picklist("GMT")
        .label("Time Zone"),
        picklist(
            "LocaleSidKey",
            &["en_US", "en_GB", "fr_FR", "de_DE", "ja_JP"],
        )
        .restricted()
        .required()
        .default_picklist("en_US")
        .label("Locale"),
        picklist("EmailEncodingKey", &["UTF-8", "ISO-8859-1"])
            .restricted()
            .required()
            .default_picklist("UTF-8")
            .label("Email Encoding"),
        picklist("LanguageLocaleKey", &["en_US", "fr", "de", "ja"])
            .restricted()
            .required()
            .default_picklist("en_US")
            .label("Language"),
        picklist("UserType", &["Standard", "AutomatedProcess"])
            .read_only()
            .label("User Type"),
        field("Phone", FieldType::Phone).label("Phone"),
        field("MobilePhone", FieldType::Phone).label("Mobile"),
        reference("ManagerId", &["User"], "Manager").label("Manager ID"),
        reference("ProfileId", &["Profile"], "Profile").label("Profile ID"),
    ]);
    fields.extend(audit_fields());
    fields.push(
        field("LastLoginDate", FieldType::Datetime)
            .read_only()
            .label("Last Login"),
    );
    fields
}

/// The org itself: one record, read through the API, never created or deleted there.
fn organization() -> Vec<F> {
    let mut fields = system_fields(false);
    let access = |name: &str, label: &str| {
        picklist(
            name,
            &[
                "None",
                "Read",
                "Edit",
                "ReadEditTransfer",
                "ControlledByParent",
            ],
        )
        .restricted()
        .read_only()
        .label(label)
    };
    fields.extend([
        text("Name", 80).read_only().name_field().label("Name"),
        text("Division", 80).read_only().label("Division"),
    ]);
    fields.extend(address("").into_iter().map(F::read_only));
    fields.extend([
        field("Phone", FieldType::Phone).read_only().label("Phone"),
        field("Fax", FieldType::Phone).read_only().label("Fax"),
        text("PrimaryContact", 80)
            .read_only()
            .label("Primary Contact"),
        picklist(
            "DefaultLocaleSidKey",
            &["en_US", "en_GB", "fr_FR", "de_DE", "ja_JP"],
        )
        .restricted()
        .read_only()
        .label("Locale"),
        picklist(
            "TimeZoneSidKey",
            &["GMT", "America/Los_Angeles", "Europe/London"],
        )
        .restricted()
        .read_only()
        .label("Time Zone"),
        picklist("LanguageLocaleKey", &["en_US", "fr", "de", "ja"])
            .restricted()
            .read_only()
            .label("Language"),
        number("FiscalYearStartMonth", FieldType::Int, 0, 0)
            .digits(9)
            .read_only()
            .label("Fiscal Year Starts In"),
        field("UsesStartDateAsFiscalYearName", FieldType::Boolean)
            .read_only()
            .label("Fiscal Year Name by Start"),
        access("DefaultAccountAccess", "Default Account Access"),
        access("DefaultContactAccess", "Default Contact Access"),
        access("DefaultOpportunityAccess", "Default Opportunity Access"),
        access("DefaultLeadAccess", "Default Lead Access"),
        access("DefaultCaseAccess", "Default Case Access"),
        field("ComplianceBccEmail", FieldType::Email)
            .length(80)
            .read_only()
            .label("Compliance BCC Email"),
        picklist(
            "UiSkin",
            &["Theme1", "Theme2", "PortalDefault", "Webstore", "Theme3"],
        )
        .restricted()
        .read_only()
        .label("UI Skin"),
        text("SignupCountryIsoCode", 2)
            .read_only()
            .label("Signup Country"),
        field("TrialExpirationDate", FieldType::Datetime)
            .read_only()
            .label("Trial Expiration Date"),
        picklist(
            "OrganizationType",
            &[
                "Team Edition",
                "Professional Edition",
                "Enterprise Edition",
                "Developer Edition",
                "Personal Edition",
                "Unlimited Edition",
                "Contact Manager Edition",
                "Base Edition",
            ],
        )
        .restricted()
        .read_only()
        .label("Edition"),
        text("NamespacePrefix", 15)
            .read_only()
            .label("Namespace Prefix"),
        text("InstanceName", 5).read_only().label("Instance Name"),
        field("IsSandbox", FieldType::Boolean)
            .read_only()
            .label("Is Sandbox"),
        field("IsReadOnly", FieldType::Boolean)
            .read_only()
            .label("Is Read Only"),
    ]);
    fields.extend(audit_fields());
    fields
}

/// User profiles; the built-in users point at them through `User.ProfileId`.
fn profile() -> Vec<F> {
    let mut fields = system_fields(false);
    fields.extend([
        text("Name", 255).required().name_field().label("Name"),
        picklist("UserType", &["Standard", "AutomatedProcess"])
            .read_only()
            .label("User Type"),
        textarea("Description", 255).label("Description"),
    ]);
    fields.extend(audit_fields());
    fields
}

/// (name, label, plural, key prefix, createable and deletable through the API, fields)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Writability,
    fn() -> Vec<F>,
);

/// What the API may do with an object's records besides reading and updating them.
#[derive(Clone, Copy)]
struct Writability {
    createable: bool,
    deletable: bool,
}

const WRITABLE: Writability = Writability {
    createable: true,
    deletable: true,
};
const NOT_DELETABLE: Writability = Writability {
    createable: true,
    deletable: false,
};
const READ_ONLY: Writability = Writability {
    createable: false,
    deletable: false,
};

/// Organization and Profile come first so that User's `ProfileId` resolves; User before the rest for owners and
/// audit references.
const BUILTINS: &[Builtin] = &[
    (
        "Organization",
        "Organization",
        "Organizations",
        "00D",
        READ_ONLY,
        organization,
    ),
    ("Profile", "Profile", "Profiles", "00e", READ_ONLY, profile),
    ("User", "User", "Users", "005", NOT_DELETABLE, user),
    ("Account", "Account", "Accounts", "001", WRITABLE, account),
    ("Contact", "Contact", "Contacts", "003", WRITABLE, contact),
    ("Lead", "Lead", "Leads", "00Q", WRITABLE, lead),
    (
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        WRITABLE,
        opportunity,
    ),
    ("Case", "Case", "Cases", "500", WRITABLE, case),
];

/// Builds the standard objects in [`BUILTINS`] order.
pub fn standard_objects() -> Result<Vec<ObjectSchema>, SchemaError> {
    BUILTINS
        .iter()
        .map(|(name, label, plural, prefix, writability, build)| {
            let fields = build()
                .into_iter()
                .map(|f| f.0.into_def())
                .collect::<Result<Vec<_>, _>>()?;
            let mut schema = ObjectSchema::new(
                name,
                label.to_string(),
                plural.to_string(),
                prefix.to_string(),
                false,
                fields,
                vec![],
            )?;
            schema.createable = writability.createable;
            schema.deletable = writability.deletable;
            Ok(schema)
        })
        .collect()
}
