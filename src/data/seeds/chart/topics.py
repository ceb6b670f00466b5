"""Topics: plausible wording and value ranges for the charts the sampler draws."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    title: str
    xlabel: str
    ylabel: str
    categories: tuple[str, ...]
    series: tuple[str, ...]
    low: float
    high: float


_YEARS = tuple(str(y) for y in range(2012, 2024))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_QUARTERS = ("Q1", "Q2", "Q3", "Q4")

CATEGORY_TOPICS: tuple[Topic, ...] = (
    Topic(
        "Quarterly Revenue by Region ({span})",
        "Quarter",
        "Revenue (USD millions)",
        _QUARTERS,
        ("North America", "Europe", "Asia Pacific", "Latin America"),
        60,
        420,
    ),
    Topic(
        "Monthly Active Users by Platform",
        "Month",
        "Active users (millions)",
        _MONTHS,
        ("iOS", "Android", "Web", "Desktop"),
        8,
        85,
    ),
    Topic(
        "Model Accuracy on Reasoning Benchmarks",
        "Benchmark",
        "Accuracy (%)",
        ("MMLU", "GSM8K", "HumanEval", "ARC-C", "HellaSwag", "MATH"),
        ("Llama-2-70B", "Mistral-7B", "Qwen-14B", "GPT-3.5"),
        25,
        92,
    ),
    Topic(
        "Energy Consumption by Sector ({span})",
        "Year",
        "Consumption (TWh)",
        _YEARS,
        ("Residential", "Commercial", "Industrial", "Transport"),
        120,
        880,
    ),
    Topic(
        "Website Traffic by Source",
        "Week",
        "Sessions (thousands)",
        tuple(f"W{i}" for i in range(1, 11)),
        ("Organic Search", "Direct", "Social", "Referral", "Email"),
        4,
        60,
    ),
    Topic(
        "Crop Yield by Fertilizer Treatment",
        "Field plot",
        "Yield (t/ha)",
        tuple(f"Plot {c}" for c in "ABCDEFG"),
        ("Control", "Nitrogen", "Phosphate", "Compost"),
        2.2,
        9.5,
    ),
    Topic(
        "Hospital Admissions by Department",
        "Month",
        "Admissions",
        _MONTHS,
        ("Cardiology", "Oncology", "Pediatrics", "Emergency"),
        180,
        1250,
    ),
    Topic(
        "Smartphone Shipments by Vendor ({span})",
        "Year",
        "Units shipped (millions)",
        _YEARS,
        ("Samsung", "Apple", "Xiaomi", "Oppo", "vivo"),
        40,
        310,
    ),
    Topic(
        "CO2 Emissions per Capita",
        "Year",
        "Emissions (t per person)",
        _YEARS,
        ("United States", "Germany", "China", "India"),
        1.6,
        16.5,
    ),
    Topic(
        "Median API Latency by Service",
        "Hour of day",
        "Latency (ms)",
        ("00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"),
        ("Auth", "Search", "Checkout", "Recommendations"),
        35,
        420,
    ),
    Topic(
        "Student Enrollment by Faculty ({span})",
        "Academic year",
        "Students enrolled",
        _YEARS,
        ("Engineering", "Medicine", "Law", "Arts", "Sciences"),
        800,
        5200,
    ),
    Topic(
        "Average Monthly Rainfall",
        "Month",
        "Rainfall (mm)",
        _MONTHS,
        ("London", "Seattle", "Singapore", "Mumbai"),
        12,
        210,
    ),
)

RANKING_TOPICS: tuple[Topic, ...] = (
    Topic(
        "Top Programming Languages by Usage",
        "Share of developers (%)",
        "",
        ("Python", "JavaScript", "Java", "C#", "TypeScript", "C++", "Go", "Rust", "Kotlin"),
        ("Usage",),
        8,
        68,
    ),
    Topic(
        "Renewable Electricity Share by Country",
        "Share of generation (%)",
        "",
        ("Norway", "Brazil", "Canada", "Spain", "Germany", "United Kingdom", "China", "Japan"),
        ("Share",),
        12,
        95,
    ),
    Topic(
        "Average Customer Rating by Product Line",
        "Mean rating (1\u20135)",
        "",
        ("Headphones", "Smartwatches", "Tablets", "Laptops", "Speakers", "Cameras"),
        ("Rating",),
        2.8,
        4.8,
    ),
    Topic(
        "Annual Visitors to National Parks",
        "Visitors (millions)",
        "",
        ("Great Smoky Mountains", "Grand Canyon", "Zion", "Rocky Mountain", "Acadia", "Yosemite", "Yellowstone"),
        ("Visitors",),
        2.5,
        14.5,
    ),
)

PIE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Cloud Infrastructure Market Share (2023)", ("AWS", "Microsoft Azure", "Google Cloud", "Alibaba Cloud", "Others")),
    ("Household Budget Allocation", ("Housing", "Food", "Transport", "Healthcare", "Savings", "Leisure")),
    ("Electricity Generation Mix", ("Natural Gas", "Coal", "Nuclear", "Hydro", "Wind", "Solar")),
    ("Preferred Work Arrangement (Survey, n=1,200)", ("Fully remote", "Hybrid", "On-site", "No preference")),
    ("Traffic Share by Browser", ("Chrome", "Safari", "Edge", "Firefox", "Other")),
)

DISTRIBUTION_TOPICS: tuple[tuple[str, str, str, float, float, tuple[str, ...]], ...] = (
    # title, value label, count label, mean, sd, group names (box/hist overlays)
    (
        "Distribution of Final Exam Scores",
        "Score",
        "Number of students",
        68,
        11,
        ("Section A", "Section B", "Section C", "Section D", "Section E"),
    ),
    ("Customer Order Values", "Order value (USD)", "Orders", 74, 21, ("Web", "Mobile app", "In store", "Phone")),
    ("Patient Age at Diagnosis", "Age (years)", "Patients", 57, 13, ("Clinic 1", "Clinic 2", "Clinic 3", "Clinic 4")),
    ("API Response Latency", "Latency (ms)", "Requests", 240, 55, ("us-east", "eu-west", "ap-south", "sa-east")),
    (
        "Salary Distribution by Department",
        "Annual salary (USD thousands)",
        "Employees",
        92,
        18,
        ("Engineering", "Sales", "Marketing", "Finance", "Support"),
    ),
    (
        "Reaction Time by Condition",
        "Reaction time (ms)",
        "Trials",
        430,
        60,
        ("Baseline", "Caffeine", "Sleep-deprived", "Dual-task"),
    ),
)

SCATTER_TOPICS: tuple[tuple[str, str, str, tuple[float, float], tuple[float, float], tuple[str, ...]], ...] = (
    (
        "Advertising Spend vs. Weekly Sales",
        "Ad spend (USD thousands)",
        "Units sold",
        (5, 60),
        (200, 1400),
        ("TV", "Online", "Print"),
    ),
    (
        "GDP per Capita vs. Life Expectancy",
        "GDP per capita (USD thousands)",
        "Life expectancy (years)",
        (2, 70),
        (58, 84),
        ("Africa", "Asia", "Europe"),
    ),
    (
        "Study Hours vs. Exam Score",
        "Weekly study hours",
        "Exam score",
        (1, 25),
        (40, 98),
        ("Cohort 2022", "Cohort 2023"),
    ),
    (
        "Engine Displacement vs. Fuel Economy",
        "Displacement (L)",
        "Fuel economy (mpg)",
        (1.0, 6.5),
        (14, 48),
        ("Sedan", "SUV", "Truck"),
    ),
)

HEATMAP_TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str, float, float], ...] = (
    (
        "Monthly Sales by Store",
        ("Store A", "Store B", "Store C", "Store D", "Store E", "Store F"),
        _MONTHS[:8],
        "Units sold",
        120,
        980,
    ),
    (
        "Average Hourly Website Visits",
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        ("6h", "9h", "12h", "15h", "18h", "21h"),
        "Visits",
        40,
        620,
    ),
    (
        "Hotel Occupancy Rate by City (%)",
        ("Paris", "Rome", "Berlin", "Madrid", "Vienna"),
        ("Jan", "Mar", "May", "Jul", "Sep", "Nov"),
        "Occupancy (%)",
        35,
        96,
    ),
    (
        "Defects per Production Line and Shift",
        ("Line 1", "Line 2", "Line 3", "Line 4"),
        ("Shift A", "Shift B", "Shift C", "Shift D", "Shift E"),
        "Defects",
        3,
        48,
    ),
)

ERRORBAR_TOPICS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], float, float], ...] = (
    (
        "Mean Reaction Time by Condition (\u00b1 SD)",
        "Condition",
        "Reaction time (ms)",
        ("Control", "Low dose", "Medium dose", "High dose"),
        ("Session 1", "Session 2"),
        320,
        520,
    ),
    (
        "Blood Pressure Reduction After 12 Weeks",
        "Treatment arm",
        "Systolic reduction (mmHg)",
        ("Placebo", "Drug A", "Drug B", "Drug A + B"),
        ("Women", "Men"),
        3,
        18,
    ),
    (
        "Throughput vs. Batch Size",
        "Batch size",
        "Throughput (samples/s)",
        ("8", "16", "32", "64", "128", "256"),
        ("GPU A", "GPU B", "GPU C"),
        150,
        2400,
    ),
    (
        "Plant Growth Under Light Conditions",
        "Week",
        "Height (cm)",
        ("Week 1", "Week 2", "Week 3", "Week 4", "Week 5"),
        ("Full sun", "Partial shade", "LED"),
        4,
        38,
    ),
)

ANNOTATION_TEXTS: tuple[str, ...] = ("Peak", "Record high", "Product launch", "Policy change", "All-time high")
